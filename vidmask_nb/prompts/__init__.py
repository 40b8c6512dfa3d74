"""Stage 02, prompts: the typed prompt records, LabelMe in and out, and the one loader of prompt files.

``records`` (``PromptSet``, ``FramePrompt``, ``TrackedObject``, ``VideoRef``: the records other stages
import), ``labelme`` (import/export), ``sources`` (any prompt file, checked the fail-closed way).
"""
