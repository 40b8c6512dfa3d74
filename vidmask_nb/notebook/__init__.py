"""What the numbered notebooks call: ``setup`` (their first cell), the prompt editor (``editor``, a view
over ``editstate.EditState``), and per-frame SAM 2 previews (``preview``).
"""
