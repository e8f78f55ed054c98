// parley-kotlin/src/main/kotlin/dev/parley/internal/transport/ByteLink.kt
package dev.parley.internal.transport

import java.nio.ByteBuffer

/** A connected byte stream: the raw socket, or TLS over it. One reader and one writer at a time. */
internal interface ByteLink {
    /** Reads into [dst]: the number of bytes read (at least one when [dst] has room), or -1 at the end of the stream. */
    suspend fun read(dst: ByteBuffer): Int

    /** Writes every remaining byte of [src]. */
    suspend fun write(src: ByteBuffer)

    /** Closes the stream; idempotent, never throws. */
    fun close()
}
