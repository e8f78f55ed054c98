package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.awaitConnected
import dev.parley.support.awaitStopped
import dev.parley.support.withRecordedClient
import dev.parley.testkit.WebSocketTestServer
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runInterruptible
import java.util.concurrent.atomic.AtomicInteger

/*
 * Outgoing frame preparation (WebsockexNova's prepare_frame), against the testkit's server, which records what
 * arrives: every data frame is prepared exactly once, whichever way it was sent, and nothing else is.
 */
class FramePreparerSpec :
    FunSpec({
        val sign = FramePreparer { frame ->
            when (frame) {
                is Frame.Text -> Frame.Text("signed:${frame.text}")
                is Frame.Binary -> Frame.Binary(byteArrayOf(0x5A) + frame.bytes)
                else -> error("only data frames are prepared, not $frame")
            }
        }

        test("send, enqueue, trySend and a handler's push are each prepared once; pings are not") {
            WebSocketTestServer.builder().start().use { server ->
                val prepared = AtomicInteger()
                val handler =
                    RecordingHandler<Unit>(onInformed = { _, s -> HandlerAction.Push(Frame.Text("pushed"), s) })
                withRecordedClient({
                    url = server.url()
                    prepareFrame { frame ->
                        prepared.incrementAndGet()
                        sign.prepare(frame)
                    }
                }, handler) { client, _ ->
                    client.awaitConnected()
                    client.send(Frame.Text("sent"))
                    client.enqueue(Frame.Binary(byteArrayOf(1, 2))).await()
                    (client.trySend(Frame.Text("tried")) as SendResult.Enqueued).written.await()
                    client.tell("push one")
                    client.send(Frame.Ping(byteArrayOf(7)))
                    val connection = runInterruptible(Dispatchers.IO) { server.awaitConnection() }
                    runInterruptible(Dispatchers.IO) {
                        connection.expectText("signed:sent")
                        connection.expectBinary(byteArrayOf(0x5A, 1, 2))
                        connection.expectText("signed:tried")
                        connection.expectText("signed:pushed")
                    }
                    prepared.get() shouldBe 4
                }
            }
        }

        test("a request is stamped with its id first, then prepared, and its reply still matches") {
            WebSocketTestServer.builder().onText({ it.startsWith("signed:") }) { "re:" + it.removePrefix("signed:") }
                .start().use { server ->
                    val requests = Requests(object : RequestCodec<String> {
                        override fun stamp(request: Frame) =
                            StampedRequest("42", Frame.Text("42|" + (request as Frame.Text).text))

                        override fun replyId(frame: Frame) =
                            (frame as? Frame.Text)?.text?.takeIf { it.startsWith("re:") }?.substringAfter("re:")
                                ?.substringBefore('|')
                    })
                    withRecordedClient({
                        url = server.url()
                        prepareFrame(sign)
                        layer(requests)
                    }) { client, _ ->
                        client.awaitConnected()
                        (requests.request(Frame.Text("hello")) as Frame.Text).text shouldBe "re:42|hello"
                    }
                }
        }

        test("a preparer that throws on a handler's push stops the client as a failing handler does") {
            WebSocketTestServer.builder().start().use { server ->
                val handler = RecordingHandler<Unit>(onConnected = { s -> HandlerAction.Push(Frame.Text("hello"), s) })
                withRecordedClient({
                    url = server.url()
                    prepareFrame { throw IllegalStateException("no key to sign with") }
                }, handler) { client, _ ->
                    val stopped = client.awaitStopped()
                    stopped.reason.shouldBeInstanceOf<StopReason.HandlerFailed>().cause.message shouldBe
                        "no key to sign with"
                }
            }
        }

        test("what the preparer throws reaches the sender, and a preparer must return a data frame") {
            WebSocketTestServer.builder().start().use { server ->
                withRecordedClient({
                    url = server.url()
                    prepareFrame { frame ->
                        if ((frame as Frame.Text).text ==
                            "bad"
                        ) {
                            throw IllegalArgumentException("cannot sign")
                        } else {
                            Frame.Ping(byteArrayOf())
                        }
                    }
                }) { client, _ ->
                    client.awaitConnected()
                    shouldThrow<IllegalArgumentException> { client.send(Frame.Text("bad")) }.message shouldBe
                        "cannot sign"
                    shouldThrow<IllegalStateException> { client.trySend(Frame.Text("ping?")) }.message shouldContain
                        "Text or a Binary"
                    // Nothing was queued by either: the connection carries on.
                    client.state.value.shouldBeConnected()
                }
            }
        }
    })

private fun ConnectionState.shouldBeConnected() = (this is ConnectionState.Connected) shouldBe true
