package dev.parley.internal.deflate

import dev.parley.CloseCodes
import dev.parley.transport.TransportProtocolException
import java.io.IOException
import java.util.concurrent.atomic.AtomicInteger
import java.util.zip.DataFormatException
import java.util.zip.Deflater
import java.util.zip.Inflater

/*
 * The two halves of permessage-deflate over the JDK's zlib. Each holds one zlib stream for the connection's life, so
 * that "context takeover" (a message may refer back to bytes of earlier ones, RFC 7692 §7.2.3) works both ways, and
 * makes it on first use: a connection that never compresses holds no native memory for it.
 */

/** The four bytes a sync flush ends with; RFC 7692 §7.2.1 removes them on the wire and §7.2.2 puts them back. */
private val TAIL = byteArrayOf(0, 0, -1, -1)

/** Inflates the server's compressed messages frame by frame, refusing to grow a message beyond [maxMessageSize]. */
internal class MessageInflater(private val maxMessageSize: Long) {
    private val stream = LazyZStream({ Inflater(true) }, Inflater::end)
    private val out = ByteSink()

    /** Bytes inflated so far in the message in progress. */
    private var inflated = 0L

    /**
     * The plain bytes of one frame of a compressed message; [last] for the message's final frame.
     *
     * @throws TransportProtocolException with 1009 as soon as the message inflates beyond the limit (the rest is
     *   never inflated), or 1007 when the bytes are not deflate data.
     */
    fun inflate(payload: ByteArray, last: Boolean): ByteArray = stream.use { inflater ->
        feed(inflater, payload, isTail = false)
        if (last) {
            feed(inflater, TAIL, isTail = true)
            // A message may end with a final deflate block (BFINAL), after which the stream must start afresh.
            if (inflater.finished()) inflater.reset()
            inflated = 0
        }
        out.take()
    }

    private fun feed(inflater: Inflater, input: ByteArray, isTail: Boolean) {
        if (inflater.finished()) {
            if (isTail || input.isEmpty()) return
            throw invalid("data after the final deflate block of a message")
        }
        inflater.setInput(input)
        while (true) {
            // Never room for more than one byte past the limit: a bomb is stopped after at most that much.
            out.ensureRoom(GROWTH)
            val room = minOf(out.room.toLong(), maxMessageSize - inflated + 1).toInt()
            val count =
                try {
                    inflater.inflate(out.array, out.size, room)
                } catch (e: DataFormatException) {
                    throw invalid("compressed message is not valid deflate data (${e.message})")
                }
            if (count > 0) {
                inflated += count
                out.advance(count)
                if (inflated > maxMessageSize) {
                    throw TransportProtocolException(
                        CloseCodes.MESSAGE_TOO_BIG,
                        "compressed message inflates beyond maxFrameSize $maxMessageSize bytes",
                    )
                }
                continue
            }
            if (inflater.needsDictionary()) throw invalid("compressed message asks for a preset dictionary")
            if (inflater.finished()) {
                if (inflater.remaining > 0 && !isTail) throw invalid("data after the final deflate block of a message")
                return
            }
            if (inflater.needsInput()) return
        }
    }

    fun end() = stream.end()

    private fun invalid(message: String) = TransportProtocolException(CloseCodes.INVALID_PAYLOAD, message)
}

/** Compresses whole messages; with [noContextTakeover] each on its own. */
internal class MessageDeflater(private val level: Int, private val noContextTakeover: Boolean) {
    private val stream = LazyZStream({ Deflater(level, true) }, Deflater::end)
    private val out = ByteSink()

    /** The compressed form of [payload], without the trailing 00 00 FF FF. */
    fun deflate(payload: ByteArray): ByteArray = stream.use { deflater ->
        deflater.setInput(payload)
        while (true) {
            // A sync flush ends on a byte boundary, so the message can be inflated without what follows it. Output
            // that fills the room given may not be all of it (Deflater's contract): grow and ask again.
            out.ensureRoom(payload.size / 2 + GROWTH)
            val room = out.room
            val count = deflater.deflate(out.array, out.size, room, Deflater.SYNC_FLUSH)
            out.advance(count)
            if (count < room) break
        }
        if (noContextTakeover) deflater.reset()
        out.take(dropTail = TAIL)
    }

    fun end() = stream.end()
}

/**
 * A zlib stream made on first use and ended exactly once. The connection's reader (or writer) uses it while another
 * coroutine may end the connection: [end] never waits and never frees a stream that is in use; the user frees it as
 * it finishes. A use after the end fails with an IOException, as any I/O on a closed connection does.
 */
private class LazyZStream<T : Any>(private val make: () -> T, private val free: (T) -> Unit) {
    private val state = AtomicInteger(IDLE)
    private var stream: T? = null

    fun <R> use(block: (T) -> R): R {
        if (!state.compareAndSet(IDLE, BUSY)) throw IOException("the connection is closed")
        try {
            return block(stream ?: make().also { stream = it })
        } finally {
            if (!state.compareAndSet(BUSY, IDLE)) freeNow()
        }
    }

    fun end() {
        while (true) {
            when (state.get()) {
                IDLE -> if (state.compareAndSet(IDLE, ENDED)) return freeNow()
                BUSY -> if (state.compareAndSet(BUSY, END_WHEN_IDLE)) return
                else -> return
            }
        }
    }

    private fun freeNow() {
        state.set(ENDED)
        stream?.let(free)
        stream = null
    }

    private companion object {
        const val IDLE = 0
        const val BUSY = 1
        const val END_WHEN_IDLE = 2
        const val ENDED = 3
    }
}

/**
 * The output buffer zlib writes into directly. Empty until first used, and dropped again after an unusually large
 * message, so an idle connection holds no buffer and a busy one no megabytes for long.
 */
private class ByteSink {
    var array: ByteArray = EMPTY
        private set
    var size: Int = 0
        private set
    val room: Int get() = array.size - size

    fun ensureRoom(bytes: Int) {
        if (room < bytes) array = array.copyOf(maxOf(size + bytes, array.size * 2))
    }

    fun advance(count: Int) {
        size += count
    }

    /** The bytes written since the last take, less [dropTail] if they end with it; then empties the sink. */
    fun take(dropTail: ByteArray? = null): ByteArray {
        var length = size
        if (dropTail != null && endsWith(dropTail)) length -= dropTail.size
        val result = array.copyOf(length)
        if (array.size > RETAINED) array = EMPTY
        size = 0
        return result
    }

    private fun endsWith(tail: ByteArray): Boolean =
        size >= tail.size && tail.indices.all { array[size - tail.size + it] == tail[it] }

    private companion object {
        val EMPTY = ByteArray(0)
    }
}

/** How much room zlib gets at least per call. */
private const val GROWTH = 8 * 1024

/** The largest output buffer kept between messages. */
private const val RETAINED = 256 * 1024
