package dev.parley.testing

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.withContext
import java.net.ConnectException
import java.net.Socket
import java.net.http.HttpTimeoutException
import java.net.http.WebSocketHandshakeException
import javax.net.ssl.SSLHandshakeException
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Self-test of [RawWebSocketServer], the fault servers and the TLS setup ([TestTls]), again with the JDK client.
 */
class RawAndFaultServersSpec : FunSpec({
    test("raw server: handshake, masked client frame, server frame, close handshake, client EOF") {
        RawWebSocketServer(subprotocol = "chat").use { raw ->
            val client = JdkWsClient.connect(raw.url(), subprotocols = listOf("chat"))
            client.subprotocol shouldBe "chat"
            val peer = raw.awaitConnection()
            peer.request.requestLine shouldBe "GET /ws HTTP/1.1"
            client.sendText("hi")
            val frame = peer.readFrame()
            (frame.opcode to frame.text) shouldBe (WsOpcode.TEXT to "hi")
            peer.sendText("yo")
            client.awaitText() shouldBe "yo"
            peer.sendClose(1000, "done")
            client.awaitEnd() shouldBe JdkWsClient.End.Closed(1000, "done")
            val reply = peer.readFrame()
            (reply.opcode to reply.closeCode) shouldBe (WsOpcode.CLOSE to 1000)
            peer.close()
        }
    }

    test("raw server: closeAbruptly is an abnormal end for the client") {
        RawWebSocketServer().use { raw ->
            val client = JdkWsClient.connect(raw.url())
            raw.awaitConnection().closeAbruptly()
            client.awaitEnd().shouldBeAbnormal()
        }
    }

    test("raw server: a custom status line rejects the upgrade") {
        val rejecting = RawWebSocketServer(
            statusLine = "HTTP/1.1 503 Service Unavailable",
            extraHeaders = listOf("Retry-After: 7"),
        )
        rejecting.use { raw ->
            val failure = JdkWsClient.connectFailure(raw.url())
            val response = failure.shouldBeInstanceOf<WebSocketHandshakeException>().response
            response.statusCode() shouldBe 503
            response.headers().firstValue("Retry-After").orElse(null) shouldBe "7"
        }
    }

    test("raw server: with answerUpgrade = false the test answers; a wrong accept key fails the handshake") {
        RawWebSocketServer(answerUpgrade = false).use { raw ->
            coroutineScope {
                val failure = async { JdkWsClient.connectFailure(raw.url()) }
                val peer = raw.awaitConnection()
                peer.request.header("Sec-WebSocket-Key").shouldNotBeNull()
                val response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                    "Sec-WebSocket-Accept: bogus\r\n\r\n"
                peer.sendRaw(response.encodeToByteArray())
                failure.await().shouldBeInstanceOf<WebSocketHandshakeException>()
            }
        }
    }

    test("raw server: readFrame rejects an unmasked client frame; awaitClosedByClient sees EOF") {
        RawWebSocketServer().use { raw ->
            withContext(Dispatchers.IO) {
                Socket(LOOPBACK, raw.port).use { socket ->
                    val out = socket.getOutputStream()
                    val head = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    out.write(head.encodeToByteArray())
                    val peer = raw.awaitConnection()
                    RawWebSocketServer.readRequestHead(socket.getInputStream()).requestLine shouldBe
                        "HTTP/1.1 101 Switching Protocols"
                    out.write(byteArrayOf(0x81.toByte(), 0x02, 'h'.code.toByte(), 'i'.code.toByte())) // no mask bit
                    runCatching { peer.readFrame() }.exceptionOrNull()!!.message!! shouldContain "not masked"
                    socket.close()
                    peer.awaitClosedByClient()
                }
            }
        }
    }

    test("acceptKey matches the RFC 6455 example") {
        RawWebSocketServer.acceptKey("dGhlIHNhbXBsZSBub25jZQ==") shouldBe "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    }

    test("silent server: the upgrade never completes, the client's timeout ends it") {
        SilentServer().use { silent ->
            val failure = JdkWsClient.connectFailure(silent.url(), timeout = 300.milliseconds)
            failure.shouldBeInstanceOf<HttpTimeoutException>()
            silent.accepted shouldBe 1
        }
    }

    test("garbage server and unused port fail the connection") {
        GarbageHttpServer().use { garbage ->
            JdkWsClient.connectFailure(garbage.url(), timeout = 2.seconds)
            garbage.awaitAccepted(1)
        }
        JdkWsClient.connectFailure("ws://$LOOPBACK:${unusedPort()}/ws").shouldBeInstanceOf<ConnectException>()
    }

    val tlsServers = listOf<Pair<String, () -> ParleyTestServer>>(
        "ktor" to { KtorTestServer(tls = true) },
        "jetty" to { JettyTestServer(tls = true) },
    )
    for ((name, newServer) in tlsServers) {
        test("wss: $name echoes over TLS trusted via TestTls, refused without that trust") {
            newServer().start().use { tls ->
                tls.url() shouldContain "wss://127.0.0.1:"
                JdkWsClient.connect(tls.url(), sslContext = TestTls.clientSslContext).use { client ->
                    client.sendText("secure")
                    client.awaitText() shouldBe "secure"
                }
                val untrusted = JdkWsClient.connectFailure(tls.url())
                generateSequence(untrusted) { it.cause }.any { it is SSLHandshakeException } shouldBe true
            }
        }
    }
})
