"""What the numbered notebooks call: ``setup`` (their first cell), the prompt editor (``editor``, a view
over ``editstate.EditState``), per-frame SAM 2 previews (``preview``), and 04's result on
screen (``result``: the video player, source | redacted at a picked time).
"""
