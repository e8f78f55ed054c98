package dev.parley.internal.transport

import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer

/**
 * A [ByteLink] over bytes in memory, for codec specs: reads hand out [input] at most [chunk] bytes at a time (so a
 * frame can arrive in pieces), writes are collected in [written].
 */
internal class BytesLink(
    private val input: ByteArray = ByteArray(0),
    private val chunk: Int = Int.MAX_VALUE,
) : ByteLink {
    private var at = 0
    val written = ByteArrayOutputStream()

    /** How many times a read was asked for: a spec can tell how far the decoder read. */
    var reads = 0
        private set

    override suspend fun read(dst: ByteBuffer): Int {
        reads++
        if (at == input.size) return -1
        val count = minOf(dst.remaining(), chunk, input.size - at)
        dst.put(input, at, count)
        at += count
        return count
    }

    override suspend fun write(src: ByteBuffer) {
        val bytes = ByteArray(src.remaining())
        src.get(bytes)
        written.write(bytes)
    }

    override fun close() = Unit
}
