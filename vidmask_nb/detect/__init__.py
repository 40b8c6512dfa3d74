"""Find what identifies people without prompts: detectors, objects found through the video, and the
fail-closed floor.

``pii`` (what in read text identifies a person: e-mail, phone, card, IBAN, plate, a word list) ->
``detectors`` (one ``Detections`` record over CenterFace faces, PP-OCRv4 text, text read and
matched by ``pii``, and OpenCV's QR and barcode readers) -> ``floor`` (the floor pass: every
detector box on every frame, resumable) -> ``floorfile`` (``floor.json``) -> ``hold`` (the floor's
covers in the render, held box by box) and ``untracked`` (``--no-track`` masks); ``find`` (objects
and prompts from the floor's detections); ``fastpass`` (the floor's fast face pass: cheap scans, faces
followed, fine tiles); ``options`` (``FindOptions``). ``asr`` (Whisper from its wheels) -> ``speech``
(listed words and spoken numbers, ``spoken``, heard in the audio).
"""
