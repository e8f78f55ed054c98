package dev.parley.recorder

import dev.parley.FrameKind
import java.time.Duration
import java.time.Instant

/**
 * What a [Recording] holds, at a glance.
 *
 * @property frames frames recorded, both ways.
 * @property inbound frames from the server.
 * @property outbound frames to the server.
 * @property connections connections that opened.
 * @property first when the first entry was recorded, or `null` for an empty recording.
 * @property last when the last entry was recorded, or `null` for an empty recording.
 * @property duration from [first] to [last]; zero for an empty recording.
 * @property dropped frames the recorder dropped (the sum of its gap lines): more than 0 means the recording is
 *   incomplete.
 * @property redacted text frames whose secrets were taken out.
 * @property byKind frames of each kind, both ways.
 */
public class RecordingSummary internal constructor(
    public val frames: Int,
    public val inbound: Int,
    public val outbound: Int,
    public val connections: Int,
    public val first: Instant?,
    public val last: Instant?,
    public val duration: Duration,
    public val dropped: Long,
    public val redacted: Int,
    public val byKind: Map<FrameKind, Int>,
) {
    override fun toString(): String =
        "$frames frames ($inbound in, $outbound out) over $connections connections in $duration" +
            (if (dropped > 0) ", $dropped dropped" else "") + (if (redacted > 0) ", $redacted redacted" else "")
}
