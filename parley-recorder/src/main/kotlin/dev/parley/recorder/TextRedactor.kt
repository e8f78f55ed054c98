package dev.parley.recorder

/**
 * Takes secrets out of a text frame before a [FrameRecorder] writes it, for formats the recorder's own redaction
 * (JSON fields and `name=value` pairs, see [RecorderOptions.redactedFields]) cannot know. Runs on the recorder's
 * thread, never on the client's.
 */
public fun interface TextRedactor {
    /** [text] with its secrets replaced; [text] itself when it holds none. */
    public fun redact(text: String): String
}
