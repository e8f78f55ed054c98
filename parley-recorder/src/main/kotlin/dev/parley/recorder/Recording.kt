package dev.parley.recorder

import dev.parley.FrameKind
import dev.parley.ParleyHandler
import dev.parley.WireDirection
import dev.parley.recorder.internal.HandlerReplay
import dev.parley.recorder.internal.RecordFormat
import dev.parley.recorder.internal.rotatedFile
import java.io.BufferedReader
import java.io.Reader
import java.nio.file.Files
import java.nio.file.Path
import java.time.Duration

/**
 * A recording made by a [FrameRecorder], read back: its [entries] in the order they were recorded, a [summary], and
 * ways to play it again, into a handler ([replay]) or to a real client from the test kit's server ([RecordingServer]).
 * A recording is held in memory whole: read a production one in a test or a tool, not on a hot path.
 *
 * @property entries everything recorded, in order.
 */
public class Recording private constructor(
    public val entries: List<RecordedEntry>,
) {
    /** Counts, directions and duration. */
    public val summary: RecordingSummary by lazy(::summarise)

    /** The frames alone, both ways, in order. */
    public fun frames(): List<RecordedFrame> = entries.filterIsInstance<RecordedFrame>()

    /** The numbers of the connections that opened, in order. */
    public fun connections(): List<Long> = entries.filterIsInstance<RecordedConnect>().map { it.connection }

    /** The entries of connection number [connection], from its start to its end. */
    public fun connection(connection: Long): List<RecordedEntry> = entries.filter { it.connection == connection }

    /**
     * Plays the recording into [handler] as a client would, without a network: [ParleyHandler.init] with [initial],
     * then for each recorded connection onConnect, each frame the server sent (onFrame, onPing, onPong), and
     * onDisconnect with the recorded reason. What the handler pushes is collected in [ReplayResult.pushed]; a
     * [dev.parley.HandlerAction.Later] is awaited; a Disconnect skips the rest of its connection (onDisconnect gets
     * [dev.parley.DisconnectReason.ByHandler]); a Stop ends the replay. With [ReplayPace.REAL_TIME] it waits the
     * recorded time between entries (on the coroutine's clock: virtual time in `runTest`).
     *
     * A recorded disconnect comes back as the reason it was when it was a close (`ClosedByPeer`, `ClosedLocally`,
     * with their codes); any other as [dev.parley.DisconnectReason.TransportFailed] whose message holds the recorded
     * reason and explanation.
     */
    public suspend fun <S> replay(
        handler: ParleyHandler<S>,
        initial: S,
        pace: ReplayPace = ReplayPace.FAST,
    ): ReplayResult<S> = HandlerReplay(entries, pace).run(handler, initial)

    override fun toString(): String = "Recording($summary)"

    private fun summarise(): RecordingSummary {
        val frames = frames()
        val first = entries.firstOrNull()?.at
        val last = entries.lastOrNull()?.at
        return RecordingSummary(
            frames = frames.size,
            inbound = frames.count { it.direction == WireDirection.INBOUND },
            outbound = frames.count { it.direction == WireDirection.OUTBOUND },
            connections = connections().size,
            first = first,
            last = last,
            duration = if (first != null && last != null) Duration.between(first, last) else Duration.ZERO,
            dropped = entries.filterIsInstance<RecordedGap>().sumOf { it.frames },
            redacted = frames.count { it.redacted },
            byKind = FrameKind.entries.associateWith { kind -> frames.count { it.kind == kind } },
        )
    }

    public companion object {
        /** Reads the one file at [path]. @throws RecordingFormatException if it is not a recording. */
        @JvmStatic
        public fun read(path: Path): Recording = Recording(readFile(path))

        /**
         * Reads the recording at [path] with the files rotated out of it, oldest first (`session.4.jsonl` …
         * `session.1.jsonl`, then `session.jsonl`), as one recording.
         */
        @JvmStatic
        public fun readAll(path: Path): Recording {
            val older = generateSequence(1) { it + 1 }.map { rotatedFile(path, it) }.takeWhile { Files.exists(it) }
            // A Path is an Iterable of its names: it must be added as a list of one, not as elements.
            return Recording((older.toList().asReversed() + listOf(path)).flatMap(::readFile))
        }

        /** Reads a recording from [reader], which is closed after; [name] names it in errors. */
        @JvmStatic
        @JvmOverloads
        public fun read(reader: Reader, name: String = "the recording"): Recording =
            Recording(reader.buffered().use { parse(it, name) })

        /** A recording of [entries], e.g. to build one by hand for a test. */
        @JvmStatic
        public fun of(entries: List<RecordedEntry>): Recording = Recording(entries.toList())

        private fun readFile(path: Path): List<RecordedEntry> =
            Files.newBufferedReader(path, Charsets.UTF_8).use { parse(it, path.toString()) }

        private fun parse(reader: BufferedReader, name: String): List<RecordedEntry> {
            RecordFormat.checkHeader(reader.readLine(), name)
            val entries = ArrayList<RecordedEntry>()
            var number = 1
            while (true) {
                val line = reader.readLine() ?: break
                number++
                if (line.isBlank()) continue
                entries += RecordFormat.entry(line, name, number)
            }
            return entries
        }
    }
}

/** How fast a recording is played. */
public enum class ReplayPace {
    /** Each entry as soon as the one before has been handled. */
    FAST,

    /** With the recorded time between entries. */
    REAL_TIME,
}
