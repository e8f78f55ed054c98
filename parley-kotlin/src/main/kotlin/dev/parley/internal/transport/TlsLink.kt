package dev.parley.internal.transport

import tlschannel.ClientTlsChannel
import tlschannel.HeapBufferAllocator
import tlschannel.NeedsReadException
import tlschannel.NeedsWriteException
import tlschannel.TlsChannel
import java.io.IOException
import java.nio.ByteBuffer
import javax.net.ssl.SSLEngine

/*
 * TLS is the platform's: a JSSE SSLEngine (Conscrypt on Android) configured by TlsConfig, so the protocol versions,
 * trust store, hostname verification, client certificates and security fixes are the JDK's. The record plumbing
 * around the engine (buffers, handshake steps, close_notify) is tls-channel's, a small dependency-free library written
 * for exactly this: an SSLEngine over a non-blocking channel. Getting that plumbing right by hand (buffer overflow and
 * underflow, handshakes interleaved with reads and writes, TLS 1.3 post-handshake messages) is where hand-written TLS
 * wrappers break.
 */

/** TLS over [raw]. The reader and the writer may work at the same time, as tls-channel allows. */
internal class TlsLink(
    private val raw: NioLink,
    engine: SSLEngine,
) : ByteLink {
    private val tls: TlsChannel =
        ClientTlsChannel
            .newBuilder(raw.channel, engine)
            // Heap buffers, released when empty: an idle connection holds no TLS buffer, and nothing needs the
            // reflection that frees direct buffers (which Android does not allow).
            .withPlainBufferAllocator(HeapBufferAllocator())
            .withEncryptedBufferAllocator(HeapBufferAllocator())
            .withReleaseBuffers(true)
            .build()

    val engine: SSLEngine get() = tls.sslEngine

    /** Runs the TLS handshake; the caller bounds it with the connect timeout. */
    suspend fun handshake() = retry { tls.handshake() }

    override suspend fun read(dst: ByteBuffer): Int = retry { tls.read(dst) }

    override suspend fun write(src: ByteBuffer) {
        while (src.hasRemaining()) retry { tls.write(src) }
    }

    /** Sends close_notify if it can without waiting, then a FIN; reading goes on. */
    fun shutdownOutput() {
        try {
            tls.shutdown()
        } catch (_: IOException) {
            // A peer that is gone needs no close_notify.
        }
        raw.shutdownOutput()
    }

    override fun close() = raw.close()

    /** Runs [step] until it completes, waiting for whatever the engine said it needs from the socket. */
    private suspend inline fun <T> retry(step: () -> T): T {
        while (true) {
            try {
                return step()
            } catch (_: NeedsReadException) {
                raw.awaitReadable()
            } catch (_: NeedsWriteException) {
                raw.awaitWritable()
            }
        }
    }
}
