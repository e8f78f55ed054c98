package dev.parley.recorder

/**
 * What a [FrameRecorder] has done so far.
 *
 * @property recorded frames written.
 * @property dropped frames not written: the buffer was full, the output had failed, or the recorder was closed. (A
 *   connection's start or end is dropped, and counted here, only when 64 of them are already waiting.)
 * @property redacted text frames written with secrets taken out.
 * @property buffered entries waiting for the writer now.
 * @property bytesWritten bytes written, headers and rotated files included.
 * @property rotations files started after the first.
 * @property failure the error that stopped the output, or `null` while it works.
 */
public class RecorderStats internal constructor(
    public val recorded: Long,
    public val dropped: Long,
    public val redacted: Long,
    public val buffered: Int,
    public val bytesWritten: Long,
    public val rotations: Int,
    public val failure: String?,
) {
    override fun toString(): String =
        "recorded=$recorded, dropped=$dropped, redacted=$redacted, buffered=$buffered, bytesWritten=$bytesWritten, " +
            "rotations=$rotations" + (failure?.let { ", failure=$it" } ?: "")
}
