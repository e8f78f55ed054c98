package dev.parley.ktor

import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.parleyOptions
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitState
import dev.parley.support.recorder
import dev.parley.testing.KtorTestServer
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import io.ktor.client.HttpClient
import io.ktor.client.engine.cio.CIO
import io.ktor.client.engine.java.Java
import io.ktor.client.engine.okhttp.OkHttp
import io.ktor.client.plugins.defaultRequest
import io.ktor.client.request.header
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.seconds

/*
 * The path through a caller's own Ktor HttpClient, against a real Ktor server on loopback. Each test shows that the
 * caller's client is really the one used: its defaultRequest header reaches the server, which Parley's own transport
 * would never send.
 */
class HttpClientTransportSpec :
    FunSpec({
        test("the caller's client carries the upgrade and is left open for the next Parley client (Parley #46)") {
            KtorTestServer().start().use { server ->
                callersClient().use { http ->
                    repeat(2) { i ->
                        withClient(server.url("/ws"), http) { client, handler ->
                            handler.expect<Seen.Connected>()
                            client.send(Frame.Text("via caller's client $i"))
                            handler.expect<Seen.Received>().frame shouldBe Frame.Text("via caller's client $i")
                        }
                    }
                    server.upgradeRequests.all.map { it.header(VIA) } shouldBe listOf(CALLER, CALLER)
                }
            }
        }

        test("binary messages cross unchanged") {
            KtorTestServer().start().use { server ->
                callersClient().use { http ->
                    withClient(server.url("/ws"), http) { client, handler ->
                        handler.expect<Seen.Connected>()
                        val bytes = ByteArray(70_000) { it.toByte() }
                        client.send(Frame.Binary(bytes))
                        handler.expect<Seen.Received>().frame shouldBe Frame.Binary(bytes)
                    }
                }
            }
        }

        test("a server's ping reaches the handler, so control frames are not swallowed by the engine") {
            KtorTestServer().start().use { server ->
                callersClient().use { http ->
                    withClient(server.url("/ws"), http) { client, handler ->
                        handler.expect<Seen.Connected>()
                        client.send(Frame.Text("send_ping:are you there"))
                        handler.awaitSeen<Seen.Pinged>().payload shouldBe "are you there"
                    }
                }
            }
        }

        test("a refused upgrade is HandshakeRejected with the server's status and headers") {
            KtorTestServer().start().use { server ->
                callersClient().use { http ->
                    withClient(server.url("/ws/auth"), http) { _, handler ->
                        val reason = handler.expect<Seen.Disconnected>().reason
                        reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>()
                        reason.status shouldBe 401
                        reason.headers["www-authenticate"] shouldBe listOf("Bearer")
                    }
                }
            }
        }

        test("the server's close handshake is reported with its code and reason") {
            KtorTestServer().start().use { server ->
                callersClient().use { http ->
                    withClient(server.url("/ws"), http) { client, handler ->
                        handler.expect<Seen.Connected>()
                        client.send(Frame.Text("close:4001:going away"))
                        handler.expect<Seen.Disconnected>().reason shouldBe
                            DisconnectReason.ClosedByPeer(4001, "going away")
                    }
                }
            }
        }

        test("an engine that cannot carry Parley is refused at once, naming it and why: OkHttp and Java") {
            for ((engine, why) in listOf(OkHttp to "hides pongs", Java to "Sec-WebSocket-Accept cannot be checked")) {
                HttpClient(engine).use { http ->
                    val refusal =
                        shouldThrow<IllegalArgumentException> {
                            parleyOptions {
                                url = "ws://127.0.0.1:1/ws"
                                httpClient(http)
                            }
                        }
                    refusal.message shouldContain http.engine::class.java.name
                    refusal.message shouldContain why
                }
            }
        }
    })

private const val VIA = "x-via"
private const val CALLER = "caller's client"

/** A caller's client with something Parley's own transport would never send. */
private fun callersClient(): HttpClient = HttpClient(CIO) { defaultRequest { header(VIA, CALLER) } }

/** A client through [http] that does not reconnect, stopped (bounded) after [block]. */
private suspend fun withClient(
    url: String,
    http: HttpClient,
    block: suspend (ParleyClient, RecordingHandler<Unit>) -> Unit,
) {
    val handler = recorder()
    val client = Parley.start(
        handler,
        Unit,
        parleyOptions {
            this.url = url
            reconnect = null
            httpClient(http)
        },
    )
    try {
        block(client, handler)
    } finally {
        withTimeout(10.seconds) { client.stop() }
        client.awaitState { it is ConnectionState.Stopped }
    }
}
