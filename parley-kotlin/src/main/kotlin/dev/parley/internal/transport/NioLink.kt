package dev.parley.internal.transport

import kotlinx.coroutines.withTimeoutOrNull
import java.io.IOException
import java.net.InetSocketAddress
import java.net.SocketTimeoutException
import java.net.StandardSocketOptions
import java.nio.ByteBuffer
import java.nio.channels.SocketChannel
import kotlin.time.Duration

/**
 * A plain TCP connection on a non-blocking channel. Reads and writes go straight to the channel from the calling
 * coroutine; only when the channel has nothing to read or no room to write does the caller wait for the selector.
 */
internal class NioLink private constructor(
    private val readiness: Readiness,
    private val writeTimeout: Duration,
) : ByteLink {
    val channel: SocketChannel get() = readiness.channel

    override suspend fun read(dst: ByteBuffer): Int {
        while (true) {
            val count = channel.read(dst)
            if (count != 0 || !dst.hasRemaining()) return count
            readiness.awaitReadable()
        }
    }

    /** Waits until the peer sent something (or closed), without a buffer: an idle connection then holds none. */
    suspend fun awaitReadable() = readiness.awaitReadable()

    override suspend fun write(src: ByteBuffer) {
        while (src.hasRemaining()) {
            if (channel.write(src) > 0) continue
            awaitWritable()
        }
    }

    /** Waits for room in the socket's send buffer, at most [writeTimeout]: a peer that stops reading is dead to us. */
    suspend fun awaitWritable() {
        if (writeTimeout.isInfinite()) return readiness.awaitWritable()
        withTimeoutOrNull(writeTimeout) { readiness.awaitWritable() }
            ?: throw WriteTimeoutException(writeTimeout)
    }

    /** Sends a FIN after what was written; reading goes on. */
    fun shutdownOutput() {
        try {
            channel.shutdownOutput()
        } catch (_: IOException) {
            // Already closed or reset: the close that follows is all that is left.
        }
    }

    override fun close() = readiness.close()

    companion object {
        /** Connects to [address]; cancellation closes the half-open channel. */
        suspend fun connect(address: InetSocketAddress, writeTimeout: Duration): NioLink {
            val channel = SocketChannel.open()
            val readiness = Readiness(channel)
            try {
                channel.configureBlocking(false)
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true)
                if (!channel.connect(address)) {
                    while (true) {
                        readiness.awaitConnectable()
                        if (channel.finishConnect()) break
                    }
                }
                return NioLink(readiness, writeTimeout)
            } catch (e: Throwable) {
                readiness.close()
                throw e
            }
        }
    }
}

/** No byte could be written for [timeout]: the peer stopped reading, or the network stopped carrying. */
internal class WriteTimeoutException(
    val timeout: Duration,
) : SocketTimeoutException("nothing could be written for $timeout: the peer stopped reading or the link is down")
