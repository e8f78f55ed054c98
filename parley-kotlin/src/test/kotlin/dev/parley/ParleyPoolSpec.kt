package dev.parley

import dev.parley.internal.Clock
import dev.parley.internal.HealthScore
import dev.parley.support.FakeSession
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.fakeOptions
import dev.parley.support.virtualClient
import dev.parley.testkit.TestConnection
import dev.parley.testkit.WebSocketTestServer
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.collections.shouldContainExactlyInAnyOrder
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runCurrent
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withTimeout
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** Requests are `id|body`, replies `re:id|body`; the testkit server below answers each with `re:` + the request. */
private class PoolCodec : RequestCodec<String> {
    private val next = AtomicLong()

    override fun stamp(request: Frame): StampedRequest<String> {
        val id = "${next.incrementAndGet()}"
        return StampedRequest(id, Frame.Text("$id|${(request as Frame.Text).text}"))
    }

    override fun replyId(frame: Frame): String? =
        (frame as? Frame.Text)?.text?.takeIf { it.startsWith("re:") }?.substringAfter("re:")?.substringBefore('|')
}

private fun text(frame: Frame) = (frame as Frame.Text).text

private fun TestConnection.texts(): List<String> = messages().filter { it.isText() }.map { it.text() }

/** Waits until [condition] holds, checking every 10 ms, for at most 5 s. */
private suspend fun eventually(what: String, condition: () -> Boolean) {
    withTimeout(5.seconds) { while (!condition()) delay(10.milliseconds) }.also { check(condition()) { what } }
}

/** The server-side connection of each member, told apart by the `member` query parameter of its upgrade. */
private suspend fun WebSocketTestServer.connectionsOf(size: Int): List<TestConnection> {
    val byMember = runInterruptible(Dispatchers.IO) {
        List(size) { awaitConnection() }.associateBy { it.request().query()!!.substringAfter("member=").toInt() }
    }
    return List(size) { byMember.getValue(it) }
}

/*
 * ParleyPool: routing to the healthiest member, failover only for idempotent frames, requests pinned to one member.
 * The races (a connection lost with frames queued) run on virtual time over fake transports; routing away from a
 * stalled server and a pinned request run against the testkit's real server.
 */
class ParleyPoolSpec :
    FunSpec({
        /** Clients on virtual time over [transports], one member each; member i has Requests if [withRequests]. */
        fun TestScope.virtualPool(
            transports: List<FakeTransport>,
            withRequests: Boolean = false,
            configure: ParleyOptions.Builder.() -> Unit = {},
        ): ParleyPool = ParleyPool.start(transports.size, listOf("ws://fake.invalid/ws")) { index, _ ->
            val requests = if (withRequests) Requests(PoolCodec(), timeout = 30.seconds) else null
            val options = fakeOptions {
                name = "member-$index"
                requests?.let { layer(it) }
                configure()
            }
            val client = virtualClient(
                RecordingHandler<Unit>(),
                Unit,
                options,
                transports[index],
                clock = Clock { testScheduler.currentTime * 1_000_000 },
            )
            PoolMember(client, requests)
        }

        test("the score is 0 for a healthy idle member and grows with each sign of trouble") {
            HealthScore.of(0, 100, silent = false, null, null, recentTrouble = 0, gatePressure = 0.0) shouldBe 0
            HealthScore.of(9, 100, silent = false, null, null, recentTrouble = 0, gatePressure = 0.1) shouldBe 0
            HealthScore.of(25, 100, silent = false, null, null, recentTrouble = 0, gatePressure = 0.0) shouldBe 20
            HealthScore.of(0, 100, silent = true, null, null, recentTrouble = 0, gatePressure = 0.0) shouldBe 100
            HealthScore.of(
                0,
                100,
                false,
                10.milliseconds,
                2.milliseconds,
                recentTrouble = 0,
                gatePressure = 0.0,
            ) shouldBe
                40
            HealthScore.of(
                0,
                100,
                false,
                6.milliseconds,
                2.milliseconds,
                recentTrouble = 0,
                gatePressure = 0.0,
            ) shouldBe
                20
            HealthScore.of(0, 100, false, 900.milliseconds / 1000, 100.milliseconds / 1000, 0, 0.0) shouldBe 0
            HealthScore.of(0, 100, silent = false, null, null, recentTrouble = 9, gatePressure = 1.0) shouldBe 60 + 50
        }

        test("equally healthy members take turns, and a member whose writes back up is routed around") {
            runTest {
                val stuckWrites = CompletableDeferred<Unit>()
                val transports = listOf(
                    FakeTransport(),
                    FakeTransport(),
                    FakeTransport { FakeSession(writes = stuckWrites) },
                )
                val pool = virtualPool(transports) { sendQueueCapacity = 10 }
                runCurrent()
                val sessions = transports.map { it.opened.single() }
                pool.send(Frame.Text("turn-0"))
                pool.send(Frame.Text("turn-1"))
                // Member 2's turn: its writer takes the frame and never finishes it.
                val stuck = backgroundScope.async { pool.send(Frame.Text("turn-2")) }
                runCurrent()
                // One frame in its queue of ten: score 10, so the other two take turns with the rest.
                pool.metrics().members.map { it.score } shouldBe listOf(0, 0, 10)
                for (i in 1..4) pool.send(Frame.Text("away-$i"))
                sessions[0].writtenTexts shouldBe listOf("turn-0", "away-2", "away-4")
                sessions[1].writtenTexts shouldBe listOf("turn-1", "away-1", "away-3")
                pool.metrics().members.map { it.routed } shouldBe listOf(3L, 3L, 0L)
                stuckWrites.complete(Unit)
                stuck.await()
                sessions[2].writtenTexts shouldBe listOf("turn-2")
                pool.metrics().members.map { it.routed } shouldBe listOf(3L, 3L, 1L)
                pool.stop()
                pool.state.value.stopped shouldBe true
            }
        }

        test("a frame lost with its connection fails over only if idempotent; a request is never sent again") {
            runTest {
                val transports = listOf(FakeTransport { FakeSession(writes = CompletableDeferred()) }, FakeTransport())
                // Member 1 is still connecting, so everything goes to member 0, whose writes never finish.
                transports[1].openGate = CompletableDeferred()
                val pool = virtualPool(transports, withRequests = true)
                runCurrent()
                val idempotent = backgroundScope.async { runCatching { pool.send(Frame.Text("idempotent"), true) } }
                val plain = backgroundScope.async { runCatching { pool.send(Frame.Text("plain")) } }
                val request = backgroundScope.async { runCatching { pool.request(Frame.Text("ask")) } }
                runCurrent()
                pool.metrics().members[0].routed shouldBe 0
                transports[1].openGate!!.complete(Unit)
                runCurrent()
                pool.state.first { it.connected == 2 }
                transports[0].opened.single().drop()
                runCurrent()
                idempotent.await().isSuccess shouldBe true
                plain.await().exceptionOrNull().shouldBeInstanceOf<ConnectionClosedException>()
                request.await().exceptionOrNull().shouldBeInstanceOf<ConnectionClosedException>()
                transports[1].opened.single().writtenTexts shouldContainExactly listOf("idempotent")
                pool.metrics().failedOver shouldBe 1
                pool.stop()
            }
        }

        test("with no member connected a send fails at once with PoolUnavailableException naming their states") {
            runTest {
                val transports = listOf(FakeTransport(), FakeTransport())
                transports.forEach { it.openGate = CompletableDeferred() }
                val pool = virtualPool(transports)
                runCurrent()
                val failure = shouldThrow<PoolUnavailableException> { pool.send(Frame.Text("nobody")) }
                failure.states.map { it::class } shouldBe List(2) { ConnectionState.Connecting::class }
                failure.message shouldBe
                    "none of the pool's 2 members is connected: the frame was not sent (Connecting, Connecting)"
                pool.metrics().unavailable shouldBe 1
                transports.forEach { it.openGate!!.complete(Unit) }
                pool.stop()
            }
        }

        test("a pool of 4 routes away from the member whose server stalls") {
            WebSocketTestServer.builder().start().use { server ->
                val pool = ParleyPool.start(4, List(4) { server.url() + "?member=$it" }) { _, endpoint ->
                    val options = parleyOptions {
                        url = endpoint
                        heartbeat {
                            interval = 100.milliseconds
                            pongTimeout = 30.seconds
                        }
                    }
                    PoolMember(Parley.start(RecordingHandler<Unit>(), Unit, options))
                }
                try {
                    val connections = server.connectionsOf(4)
                    pool.state.first { it.connected == 4 }
                    connections[2].pauseReading()
                    eventually("member 2 is seen as silent") { pool.metrics().members[2].silent }
                    repeat(40) { pool.send(Frame.Text("m$it"), idempotent = true) }
                    val routed = pool.metrics().members.map { it.routed }
                    routed[2] shouldBe 0
                    routed.sum() shouldBe 40
                    // Counted at the server: every send arrived once, on the member it was routed to.
                    for (i in listOf(0, 1, 3)) {
                        eventually("member $i's server got its ${routed[i]} sends") {
                            connections[i].texts().count { it.startsWith("m") } == routed[i].toInt()
                        }
                    }
                    connections[2].resumeReading()
                    eventually("member 2 answers again") { !pool.metrics().members[2].silent }
                    connections[2].texts() shouldBe emptyList()
                } finally {
                    withTimeout(10.seconds) { pool.stop() }
                }
            }
        }

        test("a request through the pool stays on its member: when that connection drops it fails, never resent") {
            // Orders are never answered: the test drops the connection that holds one.
            val server = WebSocketTestServer.builder()
                .onText({ '|' in it && !it.startsWith("re:") && "order" !in it }) { "re:$it" }
                .start()
            server.use {
                val pool = ParleyPool.start(2, List(2) { server.url() + "?member=$it" }) { _, endpoint ->
                    val requests = Requests(PoolCodec())
                    val options = parleyOptions {
                        url = endpoint
                        layer(requests)
                    }
                    PoolMember(Parley.start(RecordingHandler<Unit>(), Unit, options), requests)
                }
                try {
                    val connections = server.connectionsOf(2)
                    pool.state.first { it.connected == 2 }
                    text(pool.request(Frame.Text("hello"))) shouldBe "re:1|hello"
                    val asked = async { runCatching { pool.request(Frame.Text("order:buy")) } }
                    var holder: TestConnection? = null
                    eventually("a server got the order") {
                        holder = connections.firstOrNull { c -> c.texts().any { it.endsWith("|order:buy") } }
                        holder != null
                    }
                    holder!!.dropTcp()
                    asked.await().exceptionOrNull().shouldBeInstanceOf<ConnectionClosedException>()
                    // Counted at the servers, after the failure: the order reached one of them, once.
                    connections.sumOf { c -> c.texts().count { it.endsWith("|order:buy") } } shouldBe 1
                    pool.metrics().requests shouldBe 2
                } finally {
                    withTimeout(10.seconds) { pool.stop() }
                }
            }
        }
    })
