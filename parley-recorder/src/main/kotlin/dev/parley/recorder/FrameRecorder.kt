package dev.parley.recorder

import dev.parley.DisconnectReason
import dev.parley.FrameKind
import dev.parley.TappedFrame
import dev.parley.WireDirection
import dev.parley.WireTap
import dev.parley.recorder.internal.RecordFormat
import dev.parley.recorder.internal.RecordSink
import dev.parley.recorder.internal.Redaction
import dev.parley.recorder.internal.RotatingFileSink
import dev.parley.recorder.internal.StreamSink
import org.slf4j.LoggerFactory
import java.io.OutputStream
import java.nio.file.Path
import java.time.Instant
import java.util.concurrent.ArrayBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong

/**
 * Records every frame of a client, both ways, and each connection's start and end, as JSONL ([Recording] reads it
 * back): set it as the client's [WireTap] (`wireTap = recorder`, or `.wireTap(recorder)` on the Java builder).
 *
 * The client never waits for the recorder. A frame is stamped and put in a bounded buffer (at most
 * [RecorderOptions.maxBufferedFrames] frames and [RecorderOptions.maxBufferedBytes] bytes) on the client's thread;
 * one thread of the recorder's own takes it from there, takes the secrets out of text ([RecorderOptions.redactedFields],
 * [RecorderOptions.redactor]) and writes it. When the buffer is full, because the disk is slow or the output stalls,
 * the frame is dropped and counted ([RecorderStats.dropped]), and the recording gets a gap line saying how many frames
 * are missing there. Binary payloads are written as base64 and are not redacted.
 *
 * Record one client per recorder: connection numbers are the client's. [close] writes what is buffered (waiting up to
 * [RecorderOptions.closeTimeout]) and closes the output; stop the client first, or later frames are counted as
 * dropped.
 */
public class FrameRecorder private constructor(
    private val sink: RecordSink,
    private val options: RecorderOptions,
) : WireTap,
    AutoCloseable {
    // Room beyond the frames' limit for connection starts and ends, so a full buffer of frames does not lose them.
    private val queue = ArrayBlockingQueue<Pending>(options.maxBufferedFrames + LIFECYCLE_ROOM)
    private val bufferedBytes = AtomicLong()
    private val closed = AtomicBoolean()
    private val redaction = Redaction(options.redactedFields, options.redactor)

    private val recorded = AtomicLong()
    private val dropped = AtomicLong()
    private val redacted = AtomicLong()

    /** Drops not yet given to an accepted entry (or, at the end, to a last gap line) to mark in the recording. */
    private val unmarkedDrops = AtomicLong()

    @Volatile
    private var failure: Exception? = null

    private val writer =
        Thread(::drain, "parley-recorder-${ids.incrementAndGet()}").apply {
            isDaemon = true
            start()
        }

    override fun frame(frame: TappedFrame) {
        // Two threads (a connection's reader and writer) may pass this check together: LIFECYCLE_ROOM absorbs that.
        if (queue.size >= options.maxBufferedFrames) return drop()
        val kind = frame.kind
        // Text is immutable; pings', pongs' and binary payloads are the frame's own arrays, copied because the buffer
        // outlives the call; a close frame is kept as the code and reason the frame reads from its payload.
        val text = if (kind == FrameKind.TEXT) frame.text else null
        val closeReason = frame.closeReason
        val bytes = if (text == null && closeReason == null) frame.payload.copyOf() else null
        val size = (text ?: closeReason)?.length?.toLong() ?: bytes!!.size.toLong()
        val entry = Pending.OfFrame(
            now(),
            frame.connection,
            frame.direction,
            kind,
            text,
            bytes,
            frame.closeCode,
            closeReason,
        )
        offer(entry, size)
    }

    override fun connected(connection: Long, subprotocol: String?) {
        offer(Pending.Connected(now(), connection, subprotocol), 0)
    }

    override fun disconnected(connection: Long, reason: DisconnectReason) {
        offer(Pending.Disconnected(now(), connection, reason), 0)
    }

    /** What the recorder has done so far; cheap, from any thread. */
    public fun stats(): RecorderStats = RecorderStats(
        recorded = recorded.get(),
        dropped = dropped.get(),
        redacted = redacted.get(),
        buffered = queue.size,
        bytesWritten = writtenBytes,
        rotations = rotations,
        failure = failure?.toString(),
    )

    /**
     * Stops recording, writes what is buffered and closes the output, waiting up to [RecorderOptions.closeTimeout]
     * for a slow output; what is left then is counted as dropped. Idempotent.
     */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        // Wakes a writer waiting for work; when the buffer is full it is busy and sees `closed` once it has drained.
        queue.offer(Pending.End)
        writer.join(options.closeTimeout.toMillis())
        if (writer.isAlive) {
            log.warn(
                "the recorder's output did not take the last {} frames within {}",
                queue.size,
                options.closeTimeout,
            )
            writer.interrupt()
            writer.join(options.closeTimeout.toMillis())
        }
    }

    /** Its counts; never a payload. */
    override fun toString(): String = "FrameRecorder(${stats()})"

    private fun now(): Instant = options.clock.instant()

    private fun offer(entry: Pending, size: Long) {
        if (closed.get() || failure != null) return drop()
        // Reserved before queueing and released by the writer, so the bytes waiting never pass the limit.
        if (bufferedBytes.addAndGet(size) > options.maxBufferedBytes && size > 0) {
            bufferedBytes.addAndGet(-size)
            return drop()
        }
        entry.size = size
        // The frames dropped since the last one accepted were lost just before this one: its gap line says so.
        entry.dropsBefore = unmarkedDrops.getAndSet(0)
        if (!queue.offer(entry)) {
            bufferedBytes.addAndGet(-size)
            unmarkedDrops.addAndGet(entry.dropsBefore)
            drop()
        }
    }

    private fun drop() {
        dropped.incrementAndGet()
        unmarkedDrops.incrementAndGet()
    }

    @Volatile
    private var writtenBytes = 0L

    @Volatile
    private var rotations = 0

    private fun drain() {
        try {
            while (true) {
                val entry = queue.take()
                if (entry === Pending.End) break
                write(entry)
                if (queue.isEmpty()) {
                    sink.flush()
                    published()
                    // Asked again after the flush: entries may have come while a slow output held it, and close()
                    // wants them written, not dropped.
                    if (closed.get() && queue.isEmpty()) break
                }
            }
            // Frames dropped after the last one accepted have no entry to carry their gap line: it ends the file.
            val trailing = unmarkedDrops.getAndSet(0)
            if (trailing > 0) sink.write(RecordFormat.gap(now(), trailing))
            sink.flush()
        } catch (_: InterruptedException) {
            // close() gave up on a stalled output; what is left is dropped below.
        } catch (e: Exception) {
            failure = e
            drop() // the entry whose write failed
            log.warn("the recording failed and stops here; later frames are counted as dropped", e)
        } finally {
            published()
            while (true) {
                val left = queue.poll() ?: break
                if (left !== Pending.End) drop()
            }
            runCatching { sink.close() }
        }
    }

    private fun write(entry: Pending) {
        bufferedBytes.addAndGet(-entry.size)
        if (entry.dropsBefore > 0) sink.write(RecordFormat.gap(entry.at, entry.dropsBefore))
        val line =
            when (entry) {
                is Pending.OfFrame -> {
                    var text = entry.text
                    var changed = false
                    if (text != null) {
                        val (clean, wasChanged) = redaction.redact(text)
                        text = clean
                        changed = wasChanged
                        if (changed) redacted.incrementAndGet()
                    }
                    RecordFormat.frame(
                        entry.at,
                        entry.connection,
                        entry.direction,
                        entry.kind,
                        text,
                        entry.bytes,
                        entry.closeCode,
                        entry.closeReason,
                        changed,
                    )
                }

                is Pending.Connected -> RecordFormat.connected(entry.at, entry.connection, entry.subprotocol)

                is Pending.Disconnected -> RecordFormat.disconnected(entry.at, entry.connection, entry.reason)

                Pending.End -> return
            }
        sink.write(line)
        if (entry is Pending.OfFrame) recorded.incrementAndGet()
    }

    private fun published() {
        writtenBytes = sink.bytesWritten
        rotations = sink.rotations
    }

    /** What waits in the buffer. [size] is what it holds of [RecorderOptions.maxBufferedBytes]. */
    private sealed class Pending {
        abstract val at: Instant
        var size = 0L
        var dropsBefore = 0L

        class OfFrame(
            override val at: Instant,
            val connection: Long,
            val direction: WireDirection,
            val kind: FrameKind,
            val text: String?,
            val bytes: ByteArray?,
            val closeCode: Int?,
            val closeReason: String?,
        ) : Pending()

        class Connected(
            override val at: Instant,
            val connection: Long,
            val subprotocol: String?,
        ) : Pending()

        class Disconnected(
            override val at: Instant,
            val connection: Long,
            val reason: DisconnectReason,
        ) : Pending()

        object End : Pending() {
            override val at: Instant get() = Instant.EPOCH
        }
    }

    public companion object {
        private val log = LoggerFactory.getLogger(FrameRecorder::class.java)
        private val ids = AtomicInteger()
        private const val LIFECYCLE_ROOM = 64

        /**
         * A recorder writing to [path] (its directories created), rotated at [RecorderOptions.maxFileBytes]
         * (`session.jsonl`, then `session.1.jsonl` for the one before, …). The file is created at the first entry.
         */
        @JvmStatic
        @JvmOverloads
        public fun create(path: Path, options: RecorderOptions = RecorderOptions.DEFAULT): FrameRecorder {
            val started = options.clock.instant()
            return FrameRecorder(
                RotatingFileSink(path, options.maxFileBytes, options.maxFiles) { RecordFormat.header(started) },
                options,
            )
        }

        /** A recorder writing to [stream], never rotated; [close] closes the stream. */
        @JvmStatic
        @JvmOverloads
        public fun toStream(stream: OutputStream, options: RecorderOptions = RecorderOptions.DEFAULT): FrameRecorder {
            val started = options.clock.instant()
            return FrameRecorder(StreamSink(stream) { RecordFormat.header(started) }, options)
        }
    }
}
