"""Find what identifies people without prompts: detectors, objects found through the video, and the
fail-closed floor.

``detectors`` (one ``Detections`` record over CenterFace faces and PP-OCRv4 text) -> ``find``
(objects and prompts from detections; the floor, every detector box on every frame). ``speech``: listed
words heard in the audio (pocketsphinx keyword spotting).
"""
