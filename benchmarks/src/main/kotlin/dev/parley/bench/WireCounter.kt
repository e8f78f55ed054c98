package dev.parley.bench

import java.io.InputStream
import java.io.OutputStream
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.atomic.AtomicLong
import kotlin.concurrent.thread

/**
 * A relay on 127.0.0.1 in front of the echo server that counts the bytes crossing it each way: what a message costs
 * on the wire, whichever library sent it. One connection at a time is enough for the workloads that use it.
 */
internal class WireCounter(private val backendPort: Int) : AutoCloseable {
    private val server = ServerSocket().apply { bind(InetSocketAddress(InetAddress.getLoopbackAddress(), 0)) }
    private val open = java.util.concurrent.CopyOnWriteArrayList<Socket>()

    /** The port to connect to instead of the server's. */
    val port: Int = server.localPort

    /** Bytes from the client to the server. */
    val up = AtomicLong()

    /** Bytes from the server to the client. */
    val down = AtomicLong()

    init {
        thread(isDaemon = true, name = "wire-counter-$port") {
            while (!server.isClosed) {
                val client = runCatching { server.accept() }.getOrNull() ?: break
                val backend = Socket(InetAddress.getLoopbackAddress(), backendPort)
                client.tcpNoDelay = true
                backend.tcpNoDelay = true
                open += client
                open += backend
                pump(client.getInputStream(), backend.getOutputStream(), up)
                pump(backend.getInputStream(), client.getOutputStream(), down)
            }
        }
    }

    private fun pump(from: InputStream, to: OutputStream, counter: AtomicLong) = thread(isDaemon = true) {
        val buffer = ByteArray(64 * 1024)
        try {
            while (true) {
                val n = from.read(buffer)
                if (n < 0) break
                to.write(buffer, 0, n)
                counter.addAndGet(n.toLong())
            }
        } catch (_: java.io.IOException) {
            // One side closed: the connection is over.
        } finally {
            open.forEach { runCatching { it.close() } }
        }
    }

    override fun close() {
        runCatching { server.close() }
        open.forEach { runCatching { it.close() } }
    }
}

/**
 * Market-data style JSON messages of one length: 4,096 of them, so that a message's exact twin is always further back
 * than deflate's 32 KiB window, with the numbers drawn at random (fixed digit counts) as a real feed's differ.
 */
internal object JsonMessages {
    fun make(size: Int, count: Int = 4096): List<String> {
        val random = java.util.Random(42)
        fun digits(n: Int) = (1..n).joinToString("") {
            (
                if (it ==
                    1
                ) {
                    1 + random.nextInt(9)
                } else {
                    random.nextInt(10)
                }
                ).toString()
        }
        return (0 until count).map {
            val body = """{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms",""" +
                """"data":{"timestamp":17330${digits(8)},"change_id":${digits(9)},"bids":[["new",6${digits(4)}.5,""" +
                """${digits(4)}],["change",6${digits(4)}.0,${digits(3)}]],"asks":[["delete",6${digits(4)}.0,0],""" +
                """["new",6${digits(4)}.5,${digits(3)}]],"instrument_name":"BTC-PERPETUAL"},"""
            val pad = size - body.length - """"seq":""}}""".length
            require(pad >= 0) { "a JSON message needs at least ${body.length + 10} chars" }
            body + """"seq":"${digits(pad)}"}}"""
        }
    }
}
