package dev.parley

import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitState
import dev.parley.support.fakeOptions
import dev.parley.support.virtualClient
import dev.parley.support.withRecordedClient
import dev.parley.testkit.TestConnection
import dev.parley.testkit.UpgradeBehavior
import dev.parley.testkit.WebSocketTestServer
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.receiveAsFlow
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.test.UnconfinedTestDispatcher
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withTimeout
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * A subscription protocol for these specs: `sub:K` / `unsub:K` out; `subscribed:K`, `refused:K:why` and
 * `unsubscribed:K` back. The testkit server below speaks it: it confirms every key, refuses `bad…` ones and never
 * answers `silent…` ones.
 */
private object TextSubscriptions : SubscriptionCodec<String> {
    override fun subscribe(key: String) = Frame.Text("sub:$key")

    override fun unsubscribe(key: String) = Frame.Text("unsub:$key")

    override fun confirmation(frame: Frame): SubscriptionReply<String>? {
        val text = (frame as? Frame.Text)?.text ?: return null
        return when {
            text.startsWith("subscribed:") -> SubscriptionReply.Confirmed(listOf(text.removePrefix("subscribed:")))

            text.startsWith("refused:") ->
                text.removePrefix("refused:").split(':').let { SubscriptionReply.Refused(listOf(it[0]), it[1]) }

            text.startsWith(
                "unsubscribed:",
            ) -> SubscriptionReply.Unsubscribed(listOf(text.removePrefix("unsubscribed:")))

            else -> null
        }
    }
}

private fun subscriptionServer(): WebSocketTestServer = WebSocketTestServer.builder()
    .onText({ it.startsWith("sub:") && !it.startsWith("sub:silent") }) { request ->
        val key = request.removePrefix("sub:")
        if (key.startsWith("bad")) "refused:$key:no such channel" else "subscribed:$key"
    }
    .onText({ it.startsWith("unsub:") }) { "unsubscribed:" + it.removePrefix("unsub:") }
    .start()

private suspend fun WebSocketTestServer.nextConnection(): TestConnection =
    runInterruptible(Dispatchers.IO) { awaitConnection() }

private suspend fun TestConnection.expectTexts(vararg texts: String) =
    runInterruptible(Dispatchers.IO) { texts.forEach { expectText(it) } }

/*
 * Subscriptions that survive reconnects (ZenWebsocket's restore, WebsockexNova's lifecycle), against the testkit's real
 * server; the confirmation timeout at its boundary on virtual time.
 */
class SubscriptionsSpec :
    FunSpec({
        suspend fun Subscriptions<String>.awaitStates(vararg expected: Pair<String, SubscriptionState>) =
            states.first { it == mapOf(*expected) }

        test("across 20 reconnects, each restores the live subscriptions once, in order, before queued frames") {
            subscriptionServer().use { server ->
                val subscriptions = Subscriptions(TextSubscriptions)
                // Subscribed before the client starts: sent on its first connection.
                listOf("a", "b", "c").forEach(subscriptions::subscribe)
                withRecordedClient({
                    url = server.url()
                    reconnect {
                        baseDelay = 10.milliseconds
                        maxDelay = 20.milliseconds
                    }
                    layer(subscriptions)
                }) { client, _ ->
                    var connection = server.nextConnection()
                    connection.expectTexts("sub:a", "sub:b", "sub:c")
                    subscriptions.awaitStates(
                        "a" to SubscriptionState.Confirmed,
                        "b" to SubscriptionState.Confirmed,
                        "c" to SubscriptionState.Confirmed,
                    )
                    subscriptions.unsubscribe("b")
                    connection.expectTexts("unsub:b")
                    repeat(20) { i ->
                        // The next upgrade is held back, so a frame sent while connecting is queued behind it.
                        server.enqueueUpgrade(UpgradeBehavior.delay(java.time.Duration.ofMillis(50)))
                        connection.dropTcp()
                        client.awaitState { it is ConnectionState.Connecting }
                        val queued = client.enqueue(Frame.Text("queued-$i"))
                        connection = server.nextConnection()
                        connection.expectTexts("sub:a", "sub:c", "queued-$i")
                        queued.await()
                        subscriptions.awaitStates(
                            "a" to SubscriptionState.Confirmed,
                            "c" to SubscriptionState.Confirmed,
                        )
                    }
                    subscriptions.metrics() shouldBe SubscriptionMetrics(
                        pending = 0,
                        confirmed = 2,
                        failed = 0,
                        restored = 40,
                        timedOut = 0,
                    )
                }
            }
        }

        test("confirmed subscriptions are pending while disconnected; one made then goes out on the next connect") {
            subscriptionServer().use { server ->
                val subscriptions = Subscriptions(TextSubscriptions)
                val seen = CopyOnWriteArrayList<Pair<String, SubscriptionState?>>()
                subscriptions.addListener { key, state -> seen += key to state }
                withRecordedClient({
                    url = server.url()
                    layer(subscriptions)
                }) { client, _ ->
                    client.awaitConnected()
                    subscriptions.subscribe("x")
                    server.nextConnection().expectTexts("sub:x")
                    subscriptions.awaitStates("x" to SubscriptionState.Confirmed)
                    client.disconnect()
                    // The layer hears of the disconnect just after the state says so.
                    subscriptions.awaitStates("x" to SubscriptionState.Pending)
                    subscriptions.subscribe("y")
                    client.connect()
                    server.nextConnection().expectTexts("sub:x", "sub:y")
                    subscriptions.awaitStates("x" to SubscriptionState.Confirmed, "y" to SubscriptionState.Confirmed)
                    subscriptions.unsubscribe("x")
                    seen.first() shouldBe ("x" to SubscriptionState.Pending)
                    seen.last() shouldBe ("x" to null)
                }
            }
        }

        test("listeners hear the changes in the order made, even when the confirmation wins the race to tell them") {
            subscriptionServer().use { server ->
                val subscriptions = Subscriptions(TextSubscriptions)
                val seen = CopyOnWriteArrayList<Pair<String, SubscriptionState?>>()
                val subscriber = Thread.currentThread()
                subscriptions.addListener { key, state ->
                    // The subscriber is told of Pending only once the confirmation is in: the order that lost before.
                    if (Thread.currentThread() === subscriber && state == SubscriptionState.Pending) {
                        runBlocking {
                            withTimeout(5.seconds) {
                                subscriptions.states.first { it[key] == SubscriptionState.Confirmed }
                            }
                        }
                    }
                    seen += key to state
                }
                subscriptions.addListener { _, _ -> throw IllegalStateException("a listener's own bug") }
                withRecordedClient({
                    url = server.url()
                    layer(subscriptions)
                }) { client, _ ->
                    client.awaitConnected()
                    subscriptions.subscribe("x")
                    server.nextConnection().expectTexts("sub:x")
                    seen shouldContainExactly
                        listOf("x" to SubscriptionState.Pending, "x" to SubscriptionState.Confirmed)
                    client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                }
            }
        }

        test("a refused subscription is Failed with the server's reason and is not restored; subscribe retries it") {
            subscriptionServer().use { server ->
                val subscriptions = Subscriptions(TextSubscriptions)
                val handler = RecordingHandler<Unit>()
                withRecordedClient({
                    url = server.url()
                    reconnect {
                        baseDelay = 10.milliseconds
                        maxDelay = 20.milliseconds
                    }
                    layer(subscriptions)
                }, handler) { client, _ ->
                    val events = Channel<ParleyEvent>(Channel.UNLIMITED)
                    val collector = launch(start = CoroutineStart.UNDISPATCHED) { client.events.collect(events::send) }
                    client.awaitConnected()
                    subscriptions.subscribe("bad-1")
                    subscriptions.subscribe("ok")
                    val first = server.nextConnection()
                    first.expectTexts("sub:bad-1", "sub:ok")
                    subscriptions.awaitStates(
                        "bad-1" to SubscriptionState.Failed("no such channel"),
                        "ok" to SubscriptionState.Confirmed,
                    )
                    first.dropTcp()
                    val second = server.nextConnection()
                    second.expectTexts("sub:ok")
                    subscriptions.metrics().failed shouldBe 1
                    subscriptions.subscribe("bad-1")
                    second.expectTexts("sub:bad-1")
                    // Each outcome is also an event on the client's stream, in order.
                    val subscriptionEvents = withTimeout(10.seconds) {
                        events.receiveAsFlow().filter { it.javaClass.simpleName.startsWith("Subscription") }
                            .take(5).toList()
                    }
                    collector.cancelAndJoin()
                    subscriptionEvents shouldContainExactly listOf(
                        ParleyEvent.SubscriptionRefused("bad-1", "no such channel"),
                        ParleyEvent.SubscriptionConfirmed("ok"),
                        ParleyEvent.SubscriptionRestored("ok"),
                        ParleyEvent.SubscriptionConfirmed("ok"),
                        ParleyEvent.SubscriptionRefused("bad-1", "no such channel"),
                    )
                    // The confirmations, all handled by now, never reached the handler's onFrame.
                    val seen = generateSequence { handler.seen.tryReceive().getOrNull() }.toList()
                    seen.none { it is Seen.Received } shouldBe true
                }
            }
        }

        test("no confirmation within confirmTimeout: Failed at that moment, not before (virtual time)") {
            runTest {
                val subscriptions = Subscriptions(TextSubscriptions, confirmTimeout = 3.seconds)
                val transport = FakeTransport()
                val client =
                    virtualClient(RecordingHandler<Unit>(), Unit, fakeOptions { layer(subscriptions) }, transport)
                client.state.first { it is ConnectionState.Connected }
                val seen = CopyOnWriteArrayList<ParleyEvent>()
                backgroundScope.launch(UnconfinedTestDispatcher(testScheduler)) { client.events.collect(seen::add) }
                subscriptions.subscribe("silent")
                testScheduler.runCurrent()
                transport.opened.single().writtenTexts shouldContainExactly listOf("sub:silent")
                testScheduler.advanceTimeBy(3.seconds - 1.milliseconds)
                testScheduler.runCurrent()
                subscriptions.states.value["silent"] shouldBe SubscriptionState.Pending
                testScheduler.advanceTimeBy(1.milliseconds)
                testScheduler.runCurrent()
                subscriptions.states.value["silent"] shouldBe SubscriptionState.Failed("not confirmed within 3s")
                subscriptions.metrics().timedOut shouldBe 1
                seen.last() shouldBe ParleyEvent.SubscriptionTimedOut("silent", 3.seconds)
            }
        }
    })
