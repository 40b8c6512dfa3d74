"""vidmask-nb: hide chosen objects through a whole video with SAM 2, from Jupyter notebooks.

The pipeline is the architecture, one module a stage, data flowing one way:

    video (probe, read, chunk plan, encode) -> prompts -> propagate -> render

Each stage reads what the previous one wrote into a run folder (see ``runfolder``).
"""
from vidmask_nb.errors import VidmaskError

__version__ = "0.1.0"
__all__ = ["VidmaskError", "__version__"]
