"""Find what identifies people without prompts: detectors, objects found through the video, and the
fail-closed floor.

``pii`` (what in read text identifies a person: e-mail, phone, card, IBAN, plate, a word list) ->
``detectors`` (one ``Detections`` record over CenterFace faces, PP-OCRv4 text, text read and
matched by ``pii``, and OpenCV's QR and barcode readers) -> ``find``
(objects and prompts from detections; the floor, every detector box on every frame). ``speech``: listed
words heard in the audio (pocketsphinx keyword spotting).
"""
