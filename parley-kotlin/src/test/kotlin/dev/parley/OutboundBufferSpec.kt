package dev.parley

import dev.parley.support.FakeSession
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.awaitConnected
import dev.parley.support.awaitState
import dev.parley.support.fakeOptions
import dev.parley.support.virtualClient
import dev.parley.support.withRecordedClient
import dev.parley.testkit.UpgradeBehavior
import dev.parley.testkit.WebSocketTestServer
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.test.runTest
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/*
 * Messages that survive reconnects: the outbound buffer against the testkit's real server, and its expiry and the
 * "never resent once written" rule on virtual time over a fake transport, where a write can be held mid-flight.
 */
class OutboundBufferSpec :
    FunSpec({
        test("frames sent while down are written after the next connect: after the restore, before queued frames") {
            WebSocketTestServer.builder()
                .onText({ it.startsWith("sub:") }) { "subscribed:" + it.removePrefix("sub:") }
                .start().use { server ->
                    val subscriptions = Subscriptions(object : SubscriptionCodec<String> {
                        override fun subscribe(key: String) = Frame.Text("sub:$key")
                        override fun unsubscribe(key: String) = Frame.Text("unsub:$key")
                        override fun confirmation(frame: Frame) = (frame as? Frame.Text)?.text
                            ?.takeIf { it.startsWith("subscribed:") }
                            ?.let { SubscriptionReply.Confirmed(listOf(it.removePrefix("subscribed:"))) }
                    })
                    subscriptions.subscribe("a")
                    val buffer = OutboundBuffer()
                    withRecordedClient({
                        url = server.url()
                        layer(subscriptions)
                        layer(buffer)
                    }) { client, _ ->
                        client.awaitConnected()
                        val first = runInterruptible(Dispatchers.IO) { server.awaitConnection() }
                        runInterruptible(Dispatchers.IO) { first.expectText("sub:a") }
                        first.dropTcp()
                        // No reconnect policy: the client stays down until connect().
                        client.awaitState { it is ConnectionState.Disconnected && it.reason != null }
                        val kept = listOf("b1", "b2").map { buffer.sendAsync(Frame.Text(it)) }
                        buffer.metrics().buffered shouldBe 2
                        server.enqueueUpgrade(UpgradeBehavior.delay(java.time.Duration.ofMillis(50)))
                        val connecting = kotlinx.coroutines.CoroutineScope(Dispatchers.Default).async {
                            client.connect()
                        }
                        client.awaitState { it is ConnectionState.Connecting }
                        val queued = client.enqueue(Frame.Text("queued"))
                        connecting.await()
                        val second = runInterruptible(Dispatchers.IO) { server.awaitConnection() }
                        runInterruptible(Dispatchers.IO) {
                            listOf("sub:a", "b1", "b2", "queued").forEach(second::expectText)
                        }
                        kept.forEach { it.await() }
                        queued.await()
                        // Connected: it goes straight through, and send() returns once written.
                        buffer.send(Frame.Text("live"))
                        runInterruptible(Dispatchers.IO) { second.expectText("live") }
                        buffer.metrics() shouldBe OutboundBufferMetrics(0, 0, delivered = 3, 0, 0)
                    }
                }
        }

        context("a full buffer") {
            suspend fun downClient(buffer: OutboundBuffer, block: suspend () -> Unit) =
                WebSocketTestServer.builder().start().use { server ->
                    withRecordedClient({
                        url = server.url()
                        layer(buffer)
                    }) { client, _ ->
                        client.awaitConnected()
                        client.disconnect()
                        block()
                    }
                }

            test("refuses the newest frame by default, and a frame larger than maxBytes at once") {
                val buffer = OutboundBuffer(maxFrames = 2, maxBytes = 1000)
                downClient(buffer) {
                    val kept = List(2) { buffer.sendAsync(Frame.Text("k$it")) }
                    shouldThrow<OutboundBufferFullException> { buffer.send(Frame.Text("third")) }.maxFrames shouldBe 2
                    shouldThrow<OutboundBufferFullException> { buffer.send(Frame.Binary(ByteArray(2000))) }
                    kept.forEach { it.isActive shouldBe true }
                    buffer.metrics().droppedOverflow shouldBe 2
                }
            }

            test("with DROP_OLDEST gives up the oldest frames, and tells their senders") {
                val buffer = OutboundBuffer(maxFrames = 2, overflow = OutboundBuffer.Overflow.DROP_OLDEST)
                downClient(buffer) {
                    val sent = List(3) { buffer.sendAsync(Frame.Text("f$it")) }
                    shouldThrow<OutboundBufferFullException> { sent[0].await() }
                    sent.drop(1).forEach { it.isActive shouldBe true }
                    buffer.metrics().buffered shouldBe 2
                }
            }
        }

        context("on virtual time") {
            test("a frame that waits past its expiry is dropped at that moment, never sent") {
                runTest {
                    val buffer = OutboundBuffer(expireAfter = 2.seconds)
                    val transport = FakeTransport()
                    val client = virtualClient(RecordingHandler<Unit>(), Unit, fakeOptions { layer(buffer) }, transport)
                    client.state.first { it is ConnectionState.Connected }
                    transport.opened.single().drop()
                    client.state.first { it is ConnectionState.Disconnected && !it.awaitingDecision }
                    val waiting = buffer.sendAsync(Frame.Text("stale"))
                    testScheduler.advanceTimeBy(2.seconds - 1.milliseconds)
                    testScheduler.runCurrent()
                    waiting.isActive shouldBe true
                    testScheduler.advanceTimeBy(1.milliseconds)
                    testScheduler.runCurrent()
                    shouldThrow<FrameExpiredException> { waiting.await() }.expireAfter shouldBe 2.seconds
                    client.connect()
                    transport.opened.last().writtenTexts shouldBe emptyList()
                    buffer.metrics().droppedExpired shouldBe 1
                }
            }

            test("a frame still queued when the connection drops is sent once later; one being written never again") {
                runTest {
                    val buffer = OutboundBuffer()
                    val stuck = CompletableDeferred<Unit>()
                    var sessions = 0
                    val transport = FakeTransport {
                        if (sessions++ ==
                            0
                        ) {
                            FakeSession(writes = stuck)
                        } else {
                            FakeSession()
                        }
                    }
                    val client = virtualClient(RecordingHandler<Unit>(), Unit, fakeOptions { layer(buffer) }, transport)
                    client.state.first { it is ConnectionState.Connected }
                    val first = transport.opened.single()
                    val inFlight = buffer.sendAsync(Frame.Text("in flight"))
                    testScheduler.runCurrent()
                    first.writeStarted.await()
                    val queued = buffer.sendAsync(Frame.Text("queued"))
                    first.drop()
                    testScheduler.runCurrent()
                    val failure = shouldThrow<ConnectionClosedException> { inFlight.await() }
                    failure.mayHaveBeenWritten shouldBe true
                    queued.isActive shouldBe true
                    client.connect()
                    queued.await()
                    transport.opened.last().writtenTexts shouldContainExactly listOf("queued")
                    failure.reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                }
            }
        }
    })
