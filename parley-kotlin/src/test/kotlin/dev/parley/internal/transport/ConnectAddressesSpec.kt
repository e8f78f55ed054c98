package dev.parley.internal.transport

import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.internal.ConnectionLoop
import dev.parley.parleyOptions
import dev.parley.support.Seen
import dev.parley.support.recorder
import dev.parley.testing.KtorTestServer
import dev.parley.testing.unusedPort
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.withTimeout
import java.net.ConnectException
import java.net.InetAddress
import java.util.Collections
import java.util.concurrent.CountDownLatch
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/*
 * How the default transport gets from a host name to a socket. The lookup is the one seam (no DNS server can run
 * here); the sockets and the server are real. 127.0.0.2 is loopback too, but nothing listens on it, so a connect
 * there is refused at once.
 */
class ConnectAddressesSpec :
    FunSpec({
        val refused = InetAddress.getByName("127.0.0.2")
        val loopback = InetAddress.getByName("127.0.0.1")

        test("every address of the host is tried in order until one accepts") {
            KtorTestServer().start().use { server ->
                val asked = Collections.synchronizedList(mutableListOf<String>())
                val options = parleyOptions {
                    url = "ws://echo.test:${server.port}/ws"
                    reconnect = null
                }
                val transport = SocketTransport(options) { host ->
                    asked += host
                    listOf(refused, loopback)
                }
                val handler = recorder()
                val client = ConnectionLoop.start(null, handler, Unit, options, transport)
                try {
                    handler.expect<Seen.Connected>()
                    client.send(Frame.Text("through the second address"))
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("through the second address")
                    asked shouldContainExactly listOf("echo.test")
                } finally {
                    withTimeout(10.seconds) { client.stop() }
                }
            }
        }

        test("when no address accepts, the reason names every address tried and why it failed") {
            val port = unusedPort()
            val options = parleyOptions {
                url = "ws://nowhere.test:$port/ws"
                reconnect = null
            }
            val transport = SocketTransport(options) { listOf(refused, loopback) }
            val handler = recorder()
            val client = ConnectionLoop.start(null, handler, Unit, options, transport)
            try {
                val reason = handler.expect<Seen.Disconnected>().reason
                reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                val cause = reason.cause.shouldBeInstanceOf<ConnectException>()
                cause.message shouldContain "127.0.0.2: Connection refused"
                cause.message shouldContain "127.0.0.1: Connection refused"
            } finally {
                withTimeout(10.seconds) { client.stop() }
            }
        }

        test("a lookup that never returns is cut off by connectTimeout, and stop() does not wait for it") {
            val neverAnswers = CountDownLatch(1)
            try {
                val options =
                    parleyOptions {
                        url = "ws://slow-dns.test/ws"
                        connectTimeout = 200.milliseconds
                        reconnect = null
                    }
                val transport = SocketTransport(options) {
                    neverAnswers.await()
                    emptyList()
                }
                val handler = recorder()
                val client = ConnectionLoop.start(null, handler, Unit, options, transport)
                handler.expect<Seen.Disconnected>().reason.shouldBeInstanceOf<DisconnectReason.ConnectTimedOut>()
                withTimeout(10.seconds) { client.stop() }
                client.state.value.shouldBeInstanceOf<ConnectionState.Stopped>()
            } finally {
                neverAnswers.countDown() // lets the abandoned lookup's thread go
            }
        }

        test("an address whose connect hangs gets a head start, then the next one is tried beside it (RFC 8305)") {
            KtorTestServer().start().use { server ->
                // A listener on 127.0.0.3 with the same port that never accepts: once its backlog is full, the
                // kernel drops further SYNs, so a connect there hangs as it does towards a black-holed address.
                val hanging = InetAddress.getByName("127.0.0.3")
                java.net.ServerSocket(server.port, 1, hanging).use { full ->
                    val fillers = List(4) { java.nio.channels.SocketChannel.open().apply { configureBlocking(false) } }
                    try {
                        fillers.forEach { it.connect(java.net.InetSocketAddress(hanging, full.localPort)) }
                        val options =
                            parleyOptions {
                                url = "ws://two-homes.test:${server.port}/ws"
                                connectTimeout = 5.seconds
                                reconnect = null
                            }
                        val transport = SocketTransport(options) { listOf(hanging, loopback) }
                        val handler = recorder()
                        val client = ConnectionLoop.start(null, handler, Unit, options, transport)
                        try {
                            // One address after the other, this would wait out the whole connect timeout and fail.
                            handler.expect<Seen.Connected>(3.seconds)
                        } finally {
                            withTimeout(10.seconds) { client.stop() }
                        }
                    } finally {
                        fillers.forEach { it.close() }
                    }
                }
            }
        }
    })
