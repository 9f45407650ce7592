"""Files and images shared in rooms: uploads, their storage, and who may fetch them.

- ``models``: ``Upload`` (one file: who sent it, where, what Parley found it to be).
- ``files``: what the bytes are (never what the client says), an image's size, its thumbnail, the
  copy stored without EXIF; pure functions on bytes.
- ``store``: the storage (a folder, or an S3-compatible bucket): keys, writes, removals.
- ``services``: an upload's checks (who may, the limits, the namespace's policy) and its writes.
- ``views``: ``GET /files/<id>/<name>`` and the thumbnail, behind the room's access rules.

A message refers to its uploads (``attachments``); ``chat.services`` claims them for it in the
same transaction that stores the message. docs/uploads.md is the design.
"""
