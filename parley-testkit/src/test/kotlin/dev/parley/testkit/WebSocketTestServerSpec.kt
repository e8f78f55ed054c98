package dev.parley.testkit

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import java.net.http.WebSocket
import java.net.http.WebSocketHandshakeException
import java.nio.ByteBuffer
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import java.util.concurrent.atomic.AtomicInteger
import java.util.function.Predicate
import java.util.regex.Pattern

private fun <T> CompletableFuture<T>.failure(): Throwable {
    val e = shouldThrow<ExecutionException> { get(5, TimeUnit.SECONDS) }
    return e.cause!!
}

/** True when [future] is still not done after a bounded wait: the check of "the server has not answered". */
private fun CompletableFuture<*>.stillPendingAfter(millis: Long): Boolean = try {
    get(millis, TimeUnit.MILLISECONDS)
    false
} catch (_: TimeoutException) {
    true
} catch (_: ExecutionException) {
    false
}

/** The JDK client reports a connection that ended without a close frame as an error or as 1006. */
private fun String.shouldBeAnEndWithoutCloseFrame() {
    if (!startsWith("error:")) this shouldBe "close:1006:"
}

class WebSocketTestServerSpec : FunSpec({

    test("url and uri: ws://127.0.0.1:<port> with the configured path; url() before start() fails") {
        val built = WebSocketTestServer.builder().path("/chat").build()
        shouldThrow<IllegalStateException> { built.url() }
        built.start().use { server ->
            server.url() shouldBe "ws://127.0.0.1:${server.port()}/chat"
            server.uri("/other?x=1").toString() shouldBe "ws://127.0.0.1:${server.port()}/other?x=1"
            shouldThrow<IllegalStateException> { server.start() }
        }
        shouldThrow<IllegalArgumentException> { WebSocketTestServer.builder().host("192.0.2.1") }
    }

    test("echo mode answers each text and binary; expectText and expectBinary take what the client sent in order") {
        WebSocketTestServer.builder().echo().start().use { server ->
            val client = JdkClient.connect(server.uri())
            val conn = server.awaitConnection()
            client.sendText("one")
            client.ws.sendBinary(ByteBuffer.wrap(byteArrayOf(1, 2, 3)), true).get(5, TimeUnit.SECONDS)
            client.next() shouldBe "text:one"
            client.next() shouldBe "binary:3"
            conn.expectText("one")
            conn.expectBinary(byteArrayOf(1, 2, 3))
            conn.expectNothingMore(Duration.ofMillis(100))
            server.connectionCount() shouldBe 1
        }
    }

    test("scripted replies: exact text, regex and a function; the first matching rule answers") {
        WebSocketTestServer.builder()
            .onText("ping?", "pong!")
            .onText(Pattern.compile("^order:(\\d+)$"), "ordered")
            .onText(
                Predicate {
                    it.startsWith("upper:")
                },
                java.util.function.Function { it.removePrefix("upper:").uppercase() },
            )
            .onText(Predicate { it.startsWith("upper:") }, java.util.function.Function { "never: the rule above wins" })
            .onText(Predicate { it == "silent" }, java.util.function.Function { null })
            .start().use { server ->
                val client = JdkClient.connect(server.uri())
                val conn = server.awaitConnection()
                for (t in listOf("ping?", "order:42", "upper:abc", "silent", "order:x")) client.sendText(t)
                client.sendText("ping?") // a marker: its answer comes after any answer to the earlier ones
                listOf(client.next(), client.next(), client.next(), client.next()) shouldContainExactly
                    listOf("text:pong!", "text:ordered", "text:ABC", "text:pong!")
                conn.messages().map { it.text() } shouldContainExactly
                    listOf("ping?", "order:42", "upper:abc", "silent", "order:x", "ping?")
            }
    }

    test("the server pushes at any time: text, binary, a fragmented message, raw bytes") {
        WebSocketTestServer.builder().start().use { server ->
            val client = JdkClient.connect(server.uri())
            val conn = server.awaitConnection()
            conn.sendText("hello")
            conn.sendBinary(ByteArray(70_000))
            conn.sendFrame(WebSocketFrames.TEXT, "frag".toByteArray(), false)
            conn.sendFrame(WebSocketFrames.CONTINUATION, "mented".toByteArray(), true)
            conn.sendRaw(WebSocketFrames.encode(WebSocketFrames.TEXT, "raw".toByteArray()))
            listOf(client.next(), client.next(), client.next(), client.next()) shouldContainExactly
                listOf("text:hello", "binary:70000", "text:fragmented", "text:raw")
        }
    }

    test("close(code, reason) starts the handshake; the client's answer is recorded and the server ends TCP") {
        WebSocketTestServer.builder().start().use { server ->
            val client = JdkClient.connect(server.uri())
            val conn = server.awaitConnection()
            conn.close(4001, "go away")
            client.next() shouldBe "close:4001:go away"
            // The JDK client answers a close by itself, with the same code and no reason.
            conn.expectClose(4001).closeReason() shouldBe ""
            conn.awaitClosed()
            conn.isOpen() shouldBe false
        }
    }

    test("a close from the client is answered with the same code, and the connection ends") {
        WebSocketTestServer.builder().start().use { server ->
            val client = JdkClient.connect(server.uri())
            val conn = server.awaitConnection()
            client.ws.sendClose(1000, "bye").get(5, TimeUnit.SECONDS)
            conn.expectClose(1000).closeReason() shouldBe "bye"
            client.next() shouldBe "close:1000:"
            conn.awaitClosed()
        }
    }

    test("answerClose(false): the client's close frame is recorded and not answered") {
        WebSocketTestServer.builder().onConnection { it.answerClose(false) }.start().use { server ->
            val client = JdkClient.connect(server.uri())
            val conn = server.awaitConnection()
            client.ws.sendClose(1000, "").get(5, TimeUnit.SECONDS)
            conn.expectClose(1000)
            conn.isOpen() shouldBe true
            conn.sendText("still here") // the JDK client drops input after its close, so only the state is checked
            conn.closeTcp()
            conn.isOpen() shouldBe false
        }
    }

    test("dropTcp and closeTcp end the connection without a close frame") {
        WebSocketTestServer.builder().start().use { server ->
            val dropped = JdkClient.connect(server.uri())
            server.awaitConnection().dropTcp()
            dropped.next().shouldBeAnEndWithoutCloseFrame()
            val finished = JdkClient.connect(server.uri())
            server.awaitConnection().closeTcp()
            finished.next().shouldBeAnEndWithoutCloseFrame()
        }
    }

    test(
        "pings: answered with the payload by default, recorded either way; stopAnsweringPings leaves them unanswered",
    ) {
        WebSocketTestServer.builder().echo().start().use { server ->
            val client = JdkClient.connect(server.uri())
            val conn = server.awaitConnection()
            client.ws.sendPing(ByteBuffer.wrap("p1".toByteArray())).get(5, TimeUnit.SECONDS)
            client.next() shouldBe "pong:p1"
            conn.expectPing() shouldBe "p1".toByteArray()
            conn.stopAnsweringPings()
            client.ws.sendPing(ByteBuffer.wrap("p2".toByteArray())).get(5, TimeUnit.SECONDS)
            client.sendText("after")
            // The server handles frames in order: a pong for p2 would have been written before the echo.
            client.next() shouldBe "text:after"
            conn.expectPing() shouldBe "p2".toByteArray()
            conn.pingCount() shouldBe 2
            conn.sendPing("s".toByteArray())
            conn.expectPong() shouldBe "s".toByteArray() // the JDK client answers pings itself
        }
    }

    test("upgrade delay: no answer while the delay runs; a short one is answered") {
        WebSocketTestServer.builder().upgrade(UpgradeBehavior.delay(Duration.ofMinutes(5))).start().use { server ->
            val pending = JdkClient.open(server.uri())
            server.awaitUpgradeRequest().path() shouldBe "/"
            pending.stillPendingAfter(300) shouldBe true
            server.connectionCount() shouldBe 0
            server.setUpgrade(UpgradeBehavior.delay(Duration.ofMillis(50)))
            JdkClient.connect(server.uri())
            server.awaitConnection().index() shouldBe 1
        }
    }

    test("upgrade stall: the request is read and never answered, until the server closes") {
        val server = WebSocketTestServer.builder().upgrade(UpgradeBehavior.stall()).start()
        val pending = JdkClient.open(server.uri())
        server.awaitUpgradeRequest()
        pending.stillPendingAfter(300) shouldBe true
        server.close()
        pending.failure()
    }

    test("reject(status, body) with a header: the client sees the status; the request is recorded") {
        val reject = UpgradeBehavior.reject(503, "busy").withHeader("Retry-After", "7")
        WebSocketTestServer.builder().upgrade(reject).start().use { server ->
            val failure = JdkClient.open(server.uri("/x")).failure()
            failure as WebSocketHandshakeException
            failure.response.statusCode() shouldBe 503
            failure.response.headers().firstValue("Retry-After").orElse(null) shouldBe "7"
            server.awaitUpgradeRequest().path() shouldBe "/x"
            server.upgradeRequestCount() shouldBe 1
            server.connectionCount() shouldBe 0
        }
    }

    test("enqueueUpgrade answers the next requests once each, then the default applies again") {
        WebSocketTestServer.builder().start().use { server ->
            server.enqueueUpgrade(UpgradeBehavior.reject(401))
            server.enqueueUpgrade(UpgradeBehavior.reject(429))
            (JdkClient.open(server.uri()).failure() as WebSocketHandshakeException).response.statusCode() shouldBe 401
            (JdkClient.open(server.uri()).failure() as WebSocketHandshakeException).response.statusCode() shouldBe 429
            JdkClient.connect(server.uri())
            server.awaitConnection()
        }
    }

    test("a wrong Sec-WebSocket-Accept fails the client's handshake") {
        WebSocketTestServer.builder().upgrade(
            UpgradeBehavior.accept().withAcceptKey("bm9wZQ=="),
        ).start().use { server ->
            JdkClient.open(server.uri()).failure()
        }
    }

    test("subprotocol selection and the recorded upgrade request") {
        WebSocketTestServer.builder().subprotocols("b", "c").start().use { server ->
            val client = JdkClient.open(server.uri("/room?id=9"), listOf("a", "c"), mapOf("X-Token" to "t1"))
                .get(5, TimeUnit.SECONDS)
            client.ws.subprotocol shouldBe "c"
            val conn = server.awaitConnection()
            conn.subprotocol() shouldBe "c"
            val request = conn.request()
            request.method() shouldBe "GET"
            request.path() shouldBe "/room"
            request.query() shouldBe "id=9"
            request.header("x-token") shouldBe "t1"
            request.offeredSubprotocols() shouldContainExactly listOf("a", "c")
            server.awaitUpgradeRequest().target() shouldBe "/room?id=9"
        }
        WebSocketTestServer.builder().start().use { server ->
            JdkClient.open(server.uri(), listOf("a")).get(5, TimeUnit.SECONDS).ws.subprotocol shouldBe ""
            server.awaitConnection().subprotocol().shouldBeNull()
        }
    }

    test("connections come in accept order, each once; awaitConnection fails when none comes") {
        WebSocketTestServer.builder().defaultTimeout(Duration.ofMillis(200)).start().use { server ->
            JdkClient.connect(server.uri())
            val first = server.awaitConnection()
            JdkClient.connect(server.uri())
            val second = server.awaitConnection()
            listOf(first.index(), second.index()) shouldContainExactly listOf(1, 2)
            server.connections() shouldContainExactly listOf(first, second)
            shouldThrow<AssertionError> { server.awaitConnection() }.message shouldContain "answered with 101: 2"
        }
    }

    test("fragmented client messages are reassembled") {
        WebSocketTestServer.builder().start().use { server ->
            val client = JdkClient.connect(server.uri())
            val conn = server.awaitConnection()
            client.ws.sendText("hel", false).get(5, TimeUnit.SECONDS)
            client.ws.sendPing(ByteBuffer.wrap(byteArrayOf())).get(5, TimeUnit.SECONDS) // a control frame in between
            client.ws.sendText("lo", true).get(5, TimeUnit.SECONDS)
            conn.expectText("hello")
            conn.expectPing()
        }
    }

    context("assertions fail with what was received") {
        test("expectText times out and lists the messages") {
            WebSocketTestServer.builder().start().use { server ->
                val client = JdkClient.connect(server.uri())
                val conn = server.awaitConnection()
                client.sendText("first")
                conn.expectText("first")
                val e = shouldThrow<AssertionError> { conn.expectText("second", Duration.ofMillis(200)) }
                e.message shouldContain "expected text \"second\" within PT0.2S, but nothing more arrived"
                e.message shouldContain "> 1. text(\"first\")"
                e.message shouldContain "connection: open"
            }
        }

        test("a different next message fails at once; regex and predicate expectations") {
            WebSocketTestServer.builder().start().use { server ->
                val client = JdkClient.connect(server.uri())
                val conn = server.awaitConnection()
                client.sendText("""{"op":"join","room":7}""")
                client.sendText("nope")
                client.sendText("third")
                conn.expectText(Pattern.compile("\"op\":\"join\""))
                val e = shouldThrow<AssertionError> { conn.expectText(Pattern.compile("^yes$")) }
                e.message shouldContain "expected text matching /^yes$/, but the next message was text(\"nope\")"
                conn.expect(Predicate { it.isText() && it.text().length == 5 }).text() shouldBe "third"
                shouldThrow<AssertionError> { conn.expect(Predicate { true }, Duration.ofMillis(100)) }
            }
        }

        test("expectNothingMore fails when something was sent, and passes after a quiet window") {
            WebSocketTestServer.builder().start().use { server ->
                val client = JdkClient.connect(server.uri())
                val conn = server.awaitConnection()
                conn.expectNothingMore(Duration.ofMillis(100))
                client.sendText("surprise")
                val e = shouldThrow<AssertionError> { conn.expectNothingMore(Duration.ofSeconds(5)) }
                e.message shouldContain "expected nothing more within PT5S, but the client sent text(\"surprise\")"
            }
        }

        test("an expectation on an ended connection fails at once, saying so") {
            WebSocketTestServer.builder().start().use { server ->
                val client = JdkClient.connect(server.uri())
                val conn = server.awaitConnection()
                client.ws.abort()
                conn.awaitClosed()
                shouldThrow<AssertionError> { conn.expectText("x", Duration.ofMinutes(5)) }.message shouldContain
                    "the connection ended"
                shouldThrow<AssertionError> { conn.expectPing(Duration.ofMinutes(5)) }
            }
        }

        test("awaitClosed fails while the connection is open") {
            WebSocketTestServer.builder().start().use { server ->
                JdkClient.connect(server.uri())
                val e = shouldThrow<AssertionError> { server.awaitConnection().awaitClosed(Duration.ofMillis(100)) }
                e.message shouldContain "expected the connection to end"
            }
        }
    }

    context("client faults are recorded and answered with a close") {
        test("an unmasked frame: 1002") {
            WebSocketTestServer.builder().start().use { server ->
                RawClient(server.uri()).use { raw ->
                    raw.upgrade() shouldBe "HTTP/1.1 101 Switching Protocols"
                    val conn = server.awaitConnection()
                    raw.write(WebSocketFrames.encode(WebSocketFrames.TEXT, "plain".toByteArray()))
                    val (opcode, payload) = raw.readFrame()
                    opcode shouldBe WebSocketFrames.CLOSE
                    ByteBuffer.wrap(payload).short.toInt() shouldBe 1002
                    conn.awaitClosed()
                    conn.faults().single() shouldContain "not masked"
                }
            }
        }

        test("invalid UTF-8 in a text: 1007; an oversized message: 1009") {
            WebSocketTestServer.builder().maxMessageSize(1024).start().use { server ->
                RawClient(server.uri()).use { raw ->
                    raw.upgrade()
                    raw.write(
                        WebSocketFrames.encode(WebSocketFrames.TEXT, byteArrayOf(0xC3.toByte(), 0x28), mask = true),
                    )
                    ByteBuffer.wrap(raw.readFrame().second).short.toInt() shouldBe 1007
                }
                val client = JdkClient.connect(server.uri())
                client.ws.sendBinary(ByteBuffer.wrap(ByteArray(2048)), true)
                client.next() shouldBe "close:1009:frame of 2048 bytes is over the limit of 1024"
                server.connections()[1].awaitClosed()
            }
        }

        test("an oversized request head: 431, and no connection") {
            WebSocketTestServer.builder().start().use { server ->
                RawClient(server.uri()).use { raw ->
                    raw.write(("GET / HTTP/1.1\r\nX-Big: " + "a".repeat(70_000) + "\r\n\r\n").toByteArray())
                    raw.readHead().first() shouldStartWith "HTTP/1.1 431"
                }
                server.connectionCount() shouldBe 0
            }
        }

        test("a request that is not an upgrade: 400") {
            WebSocketTestServer.builder().start().use { server ->
                RawClient(server.uri()).use { raw ->
                    raw.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".toByteArray())
                    raw.readHead().first() shouldBe "HTTP/1.1 400 Bad Request"
                }
            }
        }
    }

    test("pauseReading stops reading so the client's writes back up; resumeReading lets them through") {
        WebSocketTestServer.builder().receiveBufferSize(16 * 1024).onConnection { it.pauseReading() }.start()
            .use { server ->
                val client = JdkClient.connect(server.uri())
                val conn = server.awaitConnection()
                val sent = AtomicInteger()
                val total = 512 // 512 x 64 KiB = 32 MiB: far more than loopback socket buffers hold
                var chain: CompletableFuture<WebSocket> = CompletableFuture.completedFuture(client.ws)
                repeat(total) {
                    chain = chain.thenCompose { ws ->
                        ws.sendBinary(ByteBuffer.wrap(ByteArray(64 * 1024)), true).whenComplete { _, _ ->
                            sent.incrementAndGet()
                        }
                    }
                }
                chain.stillPendingAfter(500) shouldBe true
                conn.messages() shouldHaveSize 0
                conn.resumeReading()
                chain.get(60, TimeUnit.SECONDS)
                repeat(total) { conn.nextMessage().size() shouldBe 64 * 1024 }
                sent.get() shouldBe total
            }
    }

    test("onConnection greets, onMessage scripts anything (here: close on 'quit'); a throwing handler is a fault") {
        WebSocketTestServer.builder()
            .onConnection { it.sendText("welcome") }
            .onMessage { conn, message ->
                if (message.isText() &&
                    message.text() == "quit"
                ) {
                    conn.close(1000, "as asked")
                }
            }
            .onMessage { _, message -> if (message.isText() && message.text() == "boom") error("handler boom") }
            .start().use { server ->
                val client = JdkClient.connect(server.uri())
                client.next() shouldBe "text:welcome"
                client.sendText("boom")
                client.sendText("quit")
                client.next() shouldBe "close:1000:as asked"
                val conn = server.awaitConnection()
                conn.faults().single() shouldContain "handler boom"
            }
    }

    test("reset ends connections and stalls, forgets what was not handed out, and restores the configuration") {
        WebSocketTestServer.builder().start().use { server ->
            val client = JdkClient.connect(server.uri())
            val conn = server.awaitConnection()
            server.setUpgrade(UpgradeBehavior.stall())
            // A raw client for the stalled upgrade: the JDK client would retry its GET when the server ends it.
            val stalled = RawClient(server.uri())
            stalled.write("GET /stalled HTTP/1.1\r\nHost: x\r\n\r\n".toByteArray())
            server.awaitUpgradeRequest().path() shouldBe "/" // the first client's
            server.awaitUpgradeRequest().path() shouldBe "/stalled"
            server.enqueueUpgrade(UpgradeBehavior.reject(500))
            server.reset()
            conn.awaitClosed()
            client.next().shouldBeAnEndWithoutCloseFrame()
            stalled.readHead() shouldHaveSize 0 // EOF: the stalled request was ended, unanswered
            stalled.close()
            server.connectionCount() shouldBe 0
            server.upgradeRequestCount() shouldBe 0
            server.connections() shouldHaveSize 0
            JdkClient.connect(server.uri()) // accepted: the stall and the queued rejection are gone
            server.awaitConnection().index() shouldBe 1
        }
    }
})
