package dev.parley.recorder

import java.io.IOException

/** A file is not a recording this reader understands; the message names the file, the line and what is wrong. */
public class RecordingFormatException(
    message: String,
    cause: Throwable? = null,
) : IOException(message, cause)
