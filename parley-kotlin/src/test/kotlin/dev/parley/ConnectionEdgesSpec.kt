package dev.parley

import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.RawPeer
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.WsOpcode
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.io.File
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Sockets connected to [port] that some process still holds (Linux's /proc/net tables, where CI runs): a socket whose
 * descriptor was closed either disappears or lingers in TIME_WAIT, which belongs to no one (inode 0).
 */
private fun heldSocketsTo(port: Int): Int = listOf("/proc/net/tcp", "/proc/net/tcp6").sumOf { table ->
    File(table).readLines().drop(1).count { line ->
        val fields = line.trim().split(Regex("\\s+"))
        fields[2].substringAfterLast(':').toInt(16) == port && fields[9] != "0"
    }
}

/*
 * The edges of a connection's life on the default transport, over real sockets: what a stopped client leaves behind,
 * what arrives just before a reset, and a peer that stops reading.
 */
class ConnectionEdgesSpec :
    FunSpec({
        test("a stopped client's socket descriptor is released at once, without waiting for other traffic") {
            RawWebSocketServer().use { server ->
                // Ten at once, all connected, then all stopped: no later connection wakes the selector for them.
                val clients = List(10) { Parley.start(recorder(), Unit, parleyOptions { url = server.url() }) }
                clients.forEach { it.awaitConnected() }
                repeat(10) { server.awaitConnection() }
                clients.forEach { withTimeout(5.seconds) { it.stop() } }
                // Polled, not slept: the descriptors must be gone within a short bound. Before, a closed channel
                // stayed registered with Ktor's shared selector until another connection woke it.
                val released = withTimeoutOrNull(2.seconds) {
                    while (heldSocketsTo(server.port) >
                        0
                    ) {
                        delay(10.milliseconds)
                    }
                }
                if (released == null) error("${heldSocketsTo(server.port)} client sockets still held after 2 s")
            }
        }

        test("every message that arrived before the server reset the connection is delivered") {
            RawWebSocketServer().use { server ->
                val handler = recorder()
                val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                try {
                    client.awaitConnected()
                    val peer = server.awaitConnection()
                    handler.expect<Seen.Connected>()
                    // All 200 in one write, so they leave the server in one segment: a reset discards what the
                    // server's own send queue still holds (Nagle's algorithm would hold back later small writes),
                    // and that loss would be the server's, not the client's.
                    val frames =
                        (0 until 200).fold(ByteArray(0)) { all, i ->
                            all + RawPeer.encodeFrame(WsOpcode.TEXT, "message $i".encodeToByteArray(), true, 0, false)
                        }
                    peer.sendRaw(frames)
                    peer.closeAbruptly()
                    val texts = ArrayList<String>()
                    while (true) {
                        when (val seen = handler.next(10.seconds)) {
                            is Seen.Received -> texts += (seen.frame as Frame.Text).text
                            is Seen.Disconnected -> break
                            else -> Unit
                        }
                    }
                    texts shouldBe List(200) { "message $it" }
                } finally {
                    withTimeout(5.seconds) { client.stop() }
                }
            }
        }

        test("a peer that stops reading is declared dead after writeTimeout, and the blocked senders are told") {
            RawWebSocketServer().use { server ->
                val handler = recorder()
                val client =
                    Parley.start(
                        handler,
                        Unit,
                        parleyOptions {
                            url = server.url()
                            writeTimeout = 500.milliseconds
                        },
                    )
                try {
                    client.awaitConnected()
                    handler.expect<Seen.Connected>()
                    server.awaitConnection() // never reads: the socket buffers fill, then nothing moves
                    val chunk = ByteArray(1 shl 20)
                    val sender = launch { runCatching { repeat(256) { client.send(Frame.Binary(chunk)) } } }
                    val reason = handler.awaitSeen<Seen.Disconnected>(20.seconds).reason
                    reason shouldBe DisconnectReason.WriteTimedOut(500.milliseconds)
                    // The sender blocked on a full queue hears of it too (its send fails): it does not hang.
                    withTimeout(5.seconds) { sender.join() }
                } finally {
                    withTimeout(5.seconds) { client.stop() }
                }
            }
        }
    })
