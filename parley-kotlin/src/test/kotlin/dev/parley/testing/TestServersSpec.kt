package dev.parley.testing

import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import java.net.http.WebSocketHandshakeException
import kotlin.time.Duration.Companion.milliseconds

/**
 * Self-test of [KtorTestServer] and [JettyTestServer]: every documented behaviour, checked with the JDK's WebSocket
 * client ([JdkWsClient]) so that neither server is validated by code it shares with Parley.
 */
class TestServersSpec : FunSpec({
    val kinds = listOf<Pair<String, () -> ParleyTestServer>>(
        "ktor" to { KtorTestServer() },
        "jetty" to { JettyTestServer() },
    )

    val shared = mutableListOf<ParleyTestServer>()
    afterSpec { shared.forEach { it.close() } }

    for ((name, newServer) in kinds) {
        context(name) {
            // One server per kind for the whole context keeps the spec fast; tests only add to its recordings.
            val server = newServer().start().also { shared += it }

            test("echoes text and binary, records the upgrade and the accepted connection") {
                val before = server.acceptedConnections.size
                JdkWsClient.connect(server.url(), headers = mapOf("X-Probe" to "1")).use { client ->
                    client.sendText("hello")
                    client.awaitText() shouldBe "hello"
                    client.sendBinary(byteArrayOf(1, 2, 3))
                    client.awaitBinary().toList() shouldBe listOf<Byte>(1, 2, 3)
                }
                server.acceptedConnections.awaitCount(before + 1)
                server.upgradeRequests.all.last { it.header("x-probe") == "1" }.path shouldBe "/ws"
            }

            test("close gives 1000 normal closure and records the client's close reply") {
                val client = JdkWsClient.connect(server.url())
                client.sendText("close")
                client.awaitEnd() shouldBe JdkWsClient.End.Closed(1000, "normal closure")
                // The JDK client echoes the code with an empty reason.
                server.closeFrames.awaitNext() shouldBe CloseFrameRecord(1000, "")
            }

            test("close:<code>:<reason> closes with that code and reason") {
                val client = JdkWsClient.connect(server.url())
                client.sendText("close:4001:going: away")
                client.awaitEnd() shouldBe JdkWsClient.End.Closed(4001, "going: away")
                server.closeFrames.awaitNext() shouldBe CloseFrameRecord(4001, "")
            }

            test("a client close frame is recorded and answered") {
                val client = JdkWsClient.connect(server.url())
                client.sendClose(4100, "bye")
                server.closeFrames.awaitNext() shouldBe CloseFrameRecord(4100, "bye")
                client.awaitEnd() shouldBe JdkWsClient.End.Closed(4100, "bye")
            }

            test("crash and flap end the connection without a close frame") {
                val crashed = JdkWsClient.connect(server.url())
                crashed.sendText("crash")
                crashed.awaitEnd().shouldBeAbnormal()
                JdkWsClient.connect(server.url("/ws/flap")).awaitEnd().shouldBeAbnormal()
            }

            test("send_and_crash pushes a message, then drops") {
                val client = JdkWsClient.connect(server.url())
                client.sendText("send_and_crash")
                client.awaitText() shouldBe ServerCommand.PUSHED_TEXT
                client.awaitEnd().shouldBeAbnormal()
            }

            test("send_ping:abc reaches the client and the automatic pong is recorded") {
                JdkWsClient.connect(server.url()).use { client ->
                    client.sendText("send_ping:abc")
                    client.awaitPing().decodeToString() shouldBe "abc"
                    server.pongs.awaitNext().decodeToString() shouldBe "abc"
                    client.sendText("send_ping")
                    client.awaitPing().decodeToString() shouldBe "ping"
                    server.pongs.awaitNext().decodeToString() shouldBe "ping"
                }
            }

            test("send_big:<n> sends n x characters") {
                JdkWsClient.connect(server.url()).use { client ->
                    client.sendText("send_big:200000")
                    client.awaitText() shouldBe "x".repeat(200_000)
                }
            }

            test("ignore_close leaves the client's close unanswered") {
                JdkWsClient.connect(server.url()).use { client ->
                    client.sendText("ignore_close")
                    client.sendText("still echoing") // ordering barrier: the command was processed
                    client.awaitText() shouldBe "still echoing"
                    client.sendClose(1000, "please")
                    server.closeFrames.awaitNext() shouldBe CloseFrameRecord(1000, "please")
                    client.endWithin(300.milliseconds).shouldBeNull()
                }
            }

            test("/ws/auth: 401 with WWW-Authenticate without a bearer token, upgrade with one") {
                val failure = JdkWsClient.connectFailure(server.url("/ws/auth"))
                val response = failure.shouldBeInstanceOf<WebSocketHandshakeException>().response
                response.statusCode() shouldBe 401
                response.headers().firstValue("WWW-Authenticate").orElse(null) shouldBe "Bearer"
                JdkWsClient.connect(server.url("/ws/auth"), headers = mapOf("Authorization" to "Bearer t0k3n")).use {
                    it.sendText("authed")
                    it.awaitText() shouldBe "authed"
                }
                val authorized = server.upgradeRequests.all.last { it.path == "/ws/auth" }
                authorized.header("authorization") shouldBe "Bearer t0k3n"
            }

            test("/reject answers 403") {
                val failure = JdkWsClient.connectFailure(server.url("/reject"))
                failure.shouldBeInstanceOf<WebSocketHandshakeException>().response.statusCode() shouldBe 403
            }

            test("selects the chat subprotocol when offered, none otherwise") {
                JdkWsClient.connect(server.url(), subprotocols = listOf("other", "chat")).use {
                    it.subprotocol shouldBe "chat"
                }
                server.upgradeRequests.all.last().header("sec-websocket-protocol") shouldBe "other, chat"
                JdkWsClient.connect(server.url(), subprotocols = listOf("other")).use { it.subprotocol shouldBe "" }
            }
        }

        test("$name: stop() ends open sessions as documented and start() reuses the port") {
            newServer().use { server ->
                server.start()
                val port = server.port
                val client = JdkWsClient.connect(server.url())
                server.acceptedConnections.awaitCount(1)
                server.stop()
                val end = client.awaitEnd()
                withClue("stop() as seen by the client: $end") {
                    if (server is JettyTestServer) {
                        end shouldBe JdkWsClient.End.Closed(1001, "Container being shut down")
                    } else {
                        end.shouldBeAbnormal()
                    }
                }
                JdkWsClient.connectFailure(server.url()) // refused while stopped
                server.start().port shouldBe port
                JdkWsClient.connect(server.url()).use { again ->
                    again.sendText("back")
                    again.awaitText() shouldBe "back"
                }
            }
        }
    }
})

/** The connection ended without a close frame: onError, or (for some stacks) onClose 1006. */
fun JdkWsClient.End.shouldBeAbnormal() {
    if (this is JdkWsClient.End.Closed) code shouldBe 1006 else shouldBeInstanceOf<JdkWsClient.End.Failed>()
}
