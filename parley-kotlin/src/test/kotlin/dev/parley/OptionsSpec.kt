package dev.parley

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import kotlin.time.Duration.Companion.seconds

class OptionsSpec :
    FunSpec({
        fun rejected(configure: ParleyOptions.Builder.() -> Unit): String =
            shouldThrow<IllegalArgumentException> { parleyOptions(configure) }.message!!

        context("a bad option is a clear IllegalArgumentException naming it") {
            test("a missing url") { rejected { } shouldContain "url is required" }
            test("an http url") { rejected { url = "http://example.com/" } shouldContain "ws:// or wss://" }
            test("a url without a host") { rejected { url = "ws:///path" } shouldContain "host" }
            test("a url that does not parse") { rejected { url = "ws://exa mple.com/" } shouldContain "url" }
            test("a url with credentials, without repeating them") {
                val message = rejected { url = "wss://alice:s3cr3t@example.com/feed" }
                message shouldContain "must not carry credentials"
                message shouldNotContain "s3cr3t"
            }
            test("a non-positive connectTimeout") {
                rejected {
                    url = "ws://h/"
                    connectTimeout = 0.seconds
                } shouldContain "connectTimeout"
            }
            test("a negative closeTimeout") {
                rejected {
                    url = "ws://h/"
                    closeTimeout = (-1).seconds
                } shouldContain "closeTimeout"
            }
            test("a zero send queue") {
                rejected {
                    url = "ws://h/"
                    sendQueueCapacity = 0
                } shouldContain
                    "sendQueueCapacity"
            }
            test("a zero maxFrameSize") {
                rejected {
                    url = "ws://h/"
                    maxFrameSize = 0
                } shouldContain "maxFrameSize"
            }
            test("a header Parley sets itself") {
                rejected {
                    url = "ws://h/"
                    header("Sec-WebSocket-Key", "x")
                } shouldContain "Sec-WebSocket-Key"
            }
            test("a subprotocol given as a header points to subprotocols") {
                rejected {
                    url = "ws://h/"
                    header("Sec-WebSocket-Protocol", "chat")
                } shouldContain "use subprotocols"
            }
            test("a header value with CR LF (header injection)") {
                rejected {
                    url = "ws://h/"
                    header("X-A", "a\r\nX-B: b")
                } shouldContain "X-A"
            }
            test("an invalid subprotocol token") {
                rejected {
                    url = "ws://h/"
                    subprotocols += "a b"
                } shouldContain "subprotocols"
            }
            test("a negative maxRetries") {
                rejected {
                    url = "ws://h/"
                    reconnect { maxRetries = -1 }
                } shouldContain "reconnect.maxRetries"
            }
            test("a maxDelay below baseDelay") {
                rejected {
                    url = "ws://h/"
                    reconnect {
                        baseDelay = 5.seconds
                        maxDelay = 1.seconds
                    }
                } shouldContain "reconnect.maxDelay"
            }
        }

        test("the query string is kept") {
            parleyOptions { url = "wss://example.com/feed?token=abc&x=1" }.uri.rawQuery shouldBe "token=abc&x=1"
        }

        test("toString redacts secrets, including header names the user marks sensitive") {
            val options =
                parleyOptions {
                    url = "wss://example.com/"
                    header("Authorization", "Bearer s3cret")
                    header("X-Api-Key", "k3y")
                    header("X-Trace", "visible")
                    sensitiveHeaders += "X-Api-Key"
                }
            val text = options.toString()
            text shouldNotContain "s3cret"
            text shouldNotContain "k3y"
            text shouldContain "visible"
        }

        test("control frames over 125 bytes are refused at construction") {
            shouldThrow<IllegalArgumentException> { Frame.Ping(ByteArray(126)) }.message shouldContain "125"
        }

        test("disconnect() refuses reserved close codes and over-long reasons before touching the connection") {
            val client =
                Parley.start(
                    object : ParleyHandler<Unit> {},
                    Unit,
                    parleyOptions { url = "ws://127.0.0.1:${dev.parley.testing.unusedPort()}/" },
                )
            try {
                shouldThrow<IllegalArgumentException> { client.disconnect(1005) }.message shouldContain "1005"
                shouldThrow<IllegalArgumentException> { client.disconnect(1000, "x".repeat(124)) }.message shouldContain
                    "123"
            } finally {
                client.stop()
            }
        }
    })
