package dev.parley

import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.fakeOptions
import dev.parley.support.virtualClient
import dev.parley.support.withRecordedClient
import dev.parley.testkit.WebSocketTestServer
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.test.UnconfinedTestDispatcher
import kotlinx.coroutines.test.runTest
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicLong
import kotlin.random.Random
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * A codec for these specs, no JSON needed: a request is `id|body` (stamped with the next number when it has no `|`),
 * and a reply is `re:id|body`. The testkit server answers each request with `re:` + the request.
 */
private class PipeCodec : RequestCodec<String> {
    private val next = AtomicLong()

    override fun stamp(request: Frame): StampedRequest<String> {
        val text = (request as? Frame.Text)?.text ?: throw IllegalArgumentException("a request is text")
        if ('|' in text) return StampedRequest(text.substringBefore('|'), request)
        val id = "${next.incrementAndGet()}"
        return StampedRequest(id, Frame.Text("$id|$text"))
    }

    override fun replyId(frame: Frame): String? =
        (frame as? Frame.Text)?.text?.takeIf { it.startsWith("re:") }?.substringAfter("re:")?.substringBefore('|')
}

private fun bodyOf(reply: Frame) = (reply as Frame.Text).text.substringAfter('|')

/*
 * Requests with replies (ZenWebsocket's correlation) against the testkit's real server, and its timeouts at their
 * boundary on virtual time over a fake transport.
 */
class RequestsSpec :
    FunSpec({
        fun replyingServer() =
            WebSocketTestServer.builder().onText({ !it.startsWith("re:") && it != "push" }) { "re:$it" }.start()

        test("1,000 concurrent requests answered out of order each get their own reply") {
            val count = 1000
            // This server holds the requests until all have come, then answers them last first.
            val held = java.util.concurrent.CopyOnWriteArrayList<String>()
            WebSocketTestServer.builder().onMessage { connection, message ->
                held += message.text()
                if (held.size == count) held.reversed().forEach { connection.sendText("re:$it") }
            }.start().use { server ->
                val requests = Requests(PipeCodec(), timeout = 10.seconds, maxPending = count)
                withRecordedClient({
                    url = server.url()
                    sendQueueCapacity = count
                    layer(requests)
                }) { client, _ ->
                    client.awaitConnected()
                    val replies = coroutineScope {
                        List(count) { i -> async { requests.request(Frame.Text("body-$i")) } }.awaitAll()
                    }
                    replies.map(::bodyOf) shouldContainExactly List(count) { "body-$it" }
                    held.first() shouldBe "1|body-0"
                    val metrics = requests.metrics()
                    metrics.answered shouldBe count.toLong()
                    metrics.pending shouldBe 0
                    metrics.latency.count shouldBe count.toLong()
                }
            }
        }

        test("replies never reach onFrame, other messages do, and a stray reply is an UnmatchedReply in onInfo") {
            replyingServer().use { server ->
                val requests = Requests(PipeCodec())
                withRecordedClient({
                    url = server.url()
                    layer(requests)
                }) { client, handler ->
                    handler.expect<Seen.Connected>()
                    bodyOf(requests.request(Frame.Text("ping"))) shouldBe "ping"
                    val connection = runInterruptible(Dispatchers.IO) { server.awaitConnection() }
                    connection.sendText("news")
                    connection.sendText("re:99|nobody asked")
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("news")
                    handler.expect<Seen.Info>().message shouldBe
                        UnmatchedReply("99", Frame.Text("re:99|nobody asked"), late = false)
                    requests.metrics().unmatched shouldBe 1
                }
            }
        }

        test("a request with the id of one still waiting is refused, and the first still gets its reply") {
            WebSocketTestServer.builder().start().use { server ->
                val requests = Requests(PipeCodec())
                withRecordedClient({
                    url = server.url()
                    layer(requests)
                }) { client, _ ->
                    client.awaitConnected()
                    val first = requests.requestAsync(Frame.Text("7|first"))
                    shouldThrow<DuplicateRequestIdException> { requests.requestAsync(Frame.Text("7|second")) }
                        .id shouldBe "7"
                    val connection = runInterruptible(Dispatchers.IO) { server.awaitConnection() }
                    runInterruptible(Dispatchers.IO) { connection.expectText("7|first") }
                    connection.sendText("re:7|answer")
                    bodyOf(first.await()) shouldBe "answer"
                }
            }
        }

        test("a dropped connection fails every waiting request, and nothing is sent again after the reconnect") {
            WebSocketTestServer.builder().start().use { server ->
                val requests = Requests(PipeCodec())
                withRecordedClient({
                    url = server.url()
                    reconnect {
                        baseDelay = 10.milliseconds
                        maxDelay = 20.milliseconds
                    }
                    layer(requests)
                }) { client, handler ->
                    handler.expect<Seen.Connected>()
                    val waiting = List(3) { requests.requestAsync(Frame.Text("r$it")) }
                    val first = runInterruptible(Dispatchers.IO) { server.awaitConnection() }
                    runInterruptible(Dispatchers.IO) { repeat(3) { i -> first.expectText("${i + 1}|r$i") } }
                    first.dropTcp()
                    waiting.forEach {
                        val failure = shouldThrow<ConnectionClosedException> { it.await() }
                        failure.mayHaveBeenWritten shouldBe true
                        failure.reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    }
                    handler.awaitSeen<Seen.Connected>()
                    requests.requestAsync(Frame.Text("after"))
                    // The new connection's first message is the new request: none of the three came again.
                    val second = runInterruptible(Dispatchers.IO) { server.awaitConnection() }
                    runInterruptible(Dispatchers.IO) { second.expectText("4|after") }
                    requests.metrics().failed shouldBe 3
                }
            }
        }

        test("from inside a callback, request() fails at once and requestAsync with Later works") {
            replyingServer().use { server ->
                val requests = Requests(PipeCodec())
                val inCallback = kotlinx.coroutines.CompletableDeferred<Throwable>()
                val elsewhere = kotlinx.coroutines.CoroutineScope(Dispatchers.Default)
                val handler = RecordingHandler<Unit>(onConnected = { s ->
                    inCallback.complete(runCatching { requests.request(Frame.Text("no")) }.exceptionOrNull()!!)
                    HandlerAction.Ok(s)
                }, onInformed = { message, s ->
                    val reply = requests.requestAsync(Frame.Text(message as String))
                    HandlerAction.Later(
                        elsewhere.async { HandlerAction.Push(Frame.Text("got " + bodyOf(reply.await())), s) },
                        s,
                    )
                })
                withRecordedClient({
                    url = server.url()
                    layer(requests)
                }, handler) { client, _ ->
                    inCallback.await().shouldBeInstanceOf<IllegalStateException>().message shouldContain "requestAsync"
                    client.tell("from onInfo")
                    val connection = runInterruptible(Dispatchers.IO) { server.awaitConnection() }
                    runInterruptible(Dispatchers.IO) {
                        connection.expectText("1|from onInfo")
                        connection.expectText("got from onInfo")
                    }
                }
            }
        }

        test("stop() fails what is waiting with ClientStoppedException, and a request while disconnected is refused") {
            WebSocketTestServer.builder().start().use { server ->
                val requests = Requests(PipeCodec())
                withRecordedClient({
                    url = server.url()
                    layer(requests)
                }) { client, _ ->
                    client.awaitConnected()
                    val waiting = requests.requestAsync(Frame.Text("r"))
                    client.disconnect()
                    shouldThrow<ConnectionClosedException> { waiting.await() }
                    shouldThrow<NotConnectedException> { requests.request(Frame.Text("down")) }
                    client.connect()
                    val last = requests.requestAsync(Frame.Text("last"))
                    client.stop()
                    shouldThrow<ClientStoppedException> { last.await() }
                }
            }
        }

        test("a layer serves one client: a second client with the same options is refused") {
            val requests = Requests(PipeCodec())
            val options = fakeOptions { layer(requests) }
            runTest {
                virtualClient(RecordingHandler<Unit>(), Unit, options, FakeTransport())
                shouldThrow<IllegalStateException> {
                    virtualClient(RecordingHandler<Unit>(), Unit, options, FakeTransport())
                }.message shouldContain "one client"
            }
        }

        context("timeouts, on virtual time") {
            test("a request waits exactly its timeout; a reply after it is late, reported in onInfo, not onFrame") {
                runTest {
                    val requests = Requests(PipeCodec(), timeout = 2.seconds)
                    val transport = FakeTransport()
                    val handler = RecordingHandler<Unit>()
                    val client = virtualClient(handler, Unit, fakeOptions { layer(requests) }, transport)
                    client.state.first { it is ConnectionState.Connected }
                    val reply = requests.requestAsync(Frame.Text("slow"))
                    testScheduler.advanceTimeBy(2.seconds - 1.milliseconds)
                    testScheduler.runCurrent()
                    reply.isActive shouldBe true
                    testScheduler.advanceTimeBy(1.milliseconds)
                    testScheduler.runCurrent()
                    val timedOut = shouldThrow<RequestTimeoutException> { reply.await() }
                    timedOut.id shouldBe "1"
                    timedOut.timeout shouldBe 2.seconds
                    transport.opened.single().feedText("re:1|too late")
                    handler.expect<Seen.Connected>()
                    handler.expect<Seen.Info>().message shouldBe
                        UnmatchedReply("1", Frame.Text("re:1|too late"), late = true)
                    requests.metrics().timedOut shouldBe 1
                }
            }

            test("a refusal, a stray reply and timeouts are events, at most 256 a connection; all are counted") {
                runTest {
                    val requests = Requests(PipeCodec(), timeout = 2.seconds, maxPending = 300)
                    val transport = FakeTransport()
                    val client =
                        virtualClient(RecordingHandler<Unit>(), Unit, fakeOptions { layer(requests) }, transport)
                    client.state.first { it is ConnectionState.Connected }
                    val seen = CopyOnWriteArrayList<ParleyEvent>()
                    backgroundScope.launch(UnconfinedTestDispatcher(testScheduler)) { client.events.collect(seen::add) }
                    repeat(300) { requests.requestAsync(Frame.Text("r$it")) }
                    shouldThrow<PendingRequestsFullException> { requests.requestAsync(Frame.Text("over")).await() }
                    transport.opened.single().feedText("re:stray|x")
                    testScheduler.runCurrent()
                    testScheduler.advanceTimeBy(2.seconds)
                    testScheduler.runCurrent()
                    // Past the cap: counted, but no event.
                    transport.opened.single().feedText("re:300|late")
                    testScheduler.runCurrent()
                    val layerEvents = seen.filterNot { it is ParleyEvent.Connected || it is ParleyEvent.Connecting }
                    layerEvents.take(2) shouldContainExactly listOf(
                        ParleyEvent.PendingRequestsFull(300),
                        ParleyEvent.UnmatchedReplyReceived("stray", late = false),
                    )
                    layerEvents.drop(2) shouldContainExactly
                        (1..254).map { ParleyEvent.RequestTimedOut("$it", 2.seconds) }
                    requests.metrics().timedOut shouldBe 300
                    requests.metrics().unmatched shouldBe 2
                }
            }

            test("a per-request timeout replaces the default, and a reply just in time is the reply") {
                runTest {
                    val requests = Requests(PipeCodec(), timeout = 30.seconds)
                    val transport = FakeTransport()
                    val client =
                        virtualClient(RecordingHandler<Unit>(), Unit, fakeOptions { layer(requests) }, transport)
                    client.state.first { it is ConnectionState.Connected }
                    val short = requests.requestAsync(Frame.Text("short"), timeout = 500.milliseconds)
                    val answered = requests.requestAsync(Frame.Text("answered"), timeout = 500.milliseconds)
                    testScheduler.advanceTimeBy(500.milliseconds - 1.milliseconds)
                    transport.opened.single().feedText("re:2|in time")
                    testScheduler.runCurrent()
                    bodyOf(answered.await()) shouldBe "in time"
                    testScheduler.advanceTimeBy(1.milliseconds)
                    testScheduler.runCurrent()
                    shouldThrow<RequestTimeoutException> { short.await() }
                }
            }
        }
    })
