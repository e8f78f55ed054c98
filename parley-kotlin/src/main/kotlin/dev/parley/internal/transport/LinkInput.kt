package dev.parley.internal.transport

import java.io.EOFException
import java.nio.Buffer
import java.nio.ByteBuffer
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger

/**
 * Buffered reading from a [ByteLink] for the upgrade response and the frame decoder, which share what was read: a
 * frame that arrives in the same segment as the 101 stays here for the decoder.
 *
 * The buffer is borrowed from [IoBuffers] only while it holds unread bytes. Between messages, [awaitData] lets the
 * caller wait for the next bytes without one (when the link can say it has data), so an idle connection holds none.
 */
internal class LinkInput(
    private val link: ByteLink,
) {
    /** Unread bytes between position and limit, or `null` when none are held. */
    private var buffer: ByteBuffer? = null

    val available: Int get() = buffer?.remaining() ?: 0

    /**
     * Makes at least [count] bytes (at most [IoBuffers.SIZE]) available; `false` if the stream ended before any byte
     * of them arrived, EOFException if it ended in the middle.
     */
    suspend fun require(count: Int): Boolean {
        if (available >= count) return true
        if (available == 0 && link is NioLink) {
            // Wait without a buffer: most of an idle connection's life is spent here.
            release()
            link.awaitReadable()
        }
        val held = buffer ?: IoBuffers.take().also { buffer = it }
        held.compact()
        try {
            while (held.position() < count) {
                if (link.read(held) < 0) {
                    if (held.position() == 0) return false
                    throw EOFException("the connection ended in the middle of a frame")
                }
            }
        } finally {
            held.flipForReading()
        }
        return true
    }

    fun byte(): Int = buffer!!.get().toInt() and 0xFF

    fun short(): Int = buffer!!.getShort().toInt() and 0xFFFF

    fun long(): Long = buffer!!.getLong()

    /**
     * Copies at least one and at most [max] bytes into [target] at [offset], waiting for them if none is buffered;
     * the count. Large payloads are read piece by piece, so the caller can check each piece as it arrives.
     */
    suspend fun readSome(target: ByteArray, offset: Int, max: Int): Int {
        if (available == 0 && !require(1)) throw EOFException("the connection ended in the middle of a frame")
        val held = buffer!!
        val count = minOf(held.remaining(), max)
        held.get(target, offset, count)
        return count
    }

    /** Gives the buffer back when it is empty; call between frames. */
    fun releaseIfEmpty() {
        if (available == 0) release()
    }

    /** Gives the buffer back for good; unread bytes are dropped. */
    fun release() {
        buffer?.let(IoBuffers::give)
        buffer = null
    }
}

/**
 * A small pool of direct buffers for reading and writing. Direct, so that the JDK need not copy each read and write
 * through a temporary direct buffer of its own; pooled, because direct buffers are slow to allocate and only a few
 * connections are busy at any moment. Bounded: beyond [MAX_POOLED] a returned buffer is left to the collector.
 */
internal object IoBuffers {
    const val SIZE = 32 * 1024
    private const val MAX_POOLED = 64

    private val pool = ConcurrentLinkedQueue<ByteBuffer>()
    private val pooled = AtomicInteger()

    fun take(): ByteBuffer {
        val buffer = pool.poll() ?: return ByteBuffer.allocateDirect(SIZE).apply { makeEmpty() }
        pooled.decrementAndGet()
        return buffer
    }

    fun give(buffer: ByteBuffer) {
        buffer.makeEmpty()
        if (pooled.incrementAndGet() <= MAX_POOLED) pool.add(buffer) else pooled.decrementAndGet()
    }
}

/*
 * Java 9 gave ByteBuffer its own flip(), clear() and position(int), returning ByteBuffer; Android (and Java 8) have
 * only Buffer's. Calls through these go to Buffer's, which exist everywhere Parley runs.
 */

internal fun Buffer.flipForReading() {
    flip()
}

internal fun Buffer.clearForWriting() {
    clear()
}

internal fun Buffer.makeEmpty() {
    clear()
    limit(0)
}

internal fun Buffer.moveTo(position: Int) {
    position(position)
}
