// decode_plane() is being written; this file is replaced by the implementation.
