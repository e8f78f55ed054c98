package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.withRecordedClient
import dev.parley.testkit.WebSocketTestServer
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldNotContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.withTimeout
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** Writes down what a [WireTap] is told, one line per call, in the order the calls came. */
private class TapLog : WireTap {
    val lines = LinkedBlockingQueue<String>()

    override fun frame(frame: TappedFrame) {
        val what =
            when (frame.kind) {
                FrameKind.TEXT -> frame.text
                FrameKind.CLOSE -> "${frame.closeCode} ${frame.closeReason}"
                else -> frame.payload.joinToString(",")
            }
        lines += "${frame.connection} ${frame.direction} ${frame.kind} $what"
    }

    override fun connected(connection: Long, subprotocol: String?) {
        lines += "$connection connected $subprotocol"
    }

    override fun disconnected(connection: Long, reason: DisconnectReason) {
        lines += "$connection disconnected ${reason::class.simpleName}"
    }

    fun take(): String = lines.poll(5, TimeUnit.SECONDS) ?: error("the tap was told nothing within 5 s")

    fun take(n: Int): List<String> = List(n) { take() }
}

/*
 * The wire tap (the recorder's source), against the testkit's echo server: it hears of each connection before its
 * frames and of its end after them, sees every frame both ways as the application sends and receives it, and cannot
 * break the connection by throwing.
 */
class WireTapSpec :
    FunSpec({
        test("a tap sees a connection open, each frame both ways as the application sees it, then its end") {
            WebSocketTestServer.builder().echo().subprotocols("v1").start().use { server ->
                val tap = TapLog()
                withRecordedClient({
                    url = server.url()
                    subprotocols += "v1"
                    wireTap = tap
                }) { client, handler ->
                    client.awaitConnected()
                    tap.take() shouldBe "1 connected v1"
                    client.send(Frame.Text("hello"))
                    handler.awaitSeen<Seen.Received>()
                    client.send(Frame.Binary(byteArrayOf(1, 2, 3)))
                    handler.awaitSeen<Seen.Received>()
                    client.send(Frame.Ping(byteArrayOf(7)))
                    handler.awaitSeen<Seen.Received>().frame.shouldBeInstanceOf<Frame.Pong>()
                    client.disconnect(CloseCodes.NORMAL, "done")
                    handler.awaitSeen<Seen.Disconnected>()
                    tap.take(9) shouldContainExactly listOf(
                        "1 OUTBOUND TEXT hello",
                        "1 INBOUND TEXT hello",
                        "1 OUTBOUND BINARY 1,2,3",
                        "1 INBOUND BINARY 1,2,3",
                        "1 OUTBOUND PING 7",
                        "1 INBOUND PONG 7",
                        "1 OUTBOUND CLOSE 1000 done",
                        "1 INBOUND CLOSE 1000 ", // the testkit answers with the code alone
                        "1 disconnected ClosedLocally",
                    )
                }
            }
        }

        test("a reconnect is told as the end of connection 1 and the start of connection 2") {
            WebSocketTestServer.builder().echo().start().use { server ->
                val tap = TapLog()
                withRecordedClient({
                    url = server.url()
                    wireTap = tap
                    reconnect {
                        baseDelay = 10.milliseconds
                        maxDelay = 10.milliseconds
                    }
                }) { client, _ ->
                    client.awaitConnected()
                    runInterruptible(Dispatchers.IO) { server.awaitConnection().dropTcp() }
                    withTimeout(5.seconds) {
                        client.state.first { it is ConnectionState.Connected && it.connection == 2L }
                    }
                    client.send(Frame.Text("again"))
                    tap.take(4) shouldContainExactly listOf(
                        "1 connected null",
                        "1 disconnected TransportFailed",
                        "2 connected null",
                        "2 OUTBOUND TEXT again",
                    )
                }
            }
        }

        test("a tap that throws on every frame leaves the connection working") {
            WebSocketTestServer.builder().echo().start().use { server ->
                val calls = AtomicInteger()
                val broken =
                    object : WireTap {
                        override fun frame(frame: TappedFrame) {
                            calls.incrementAndGet()
                            throw IllegalStateException("the disk is full")
                        }
                    }
                val handler = RecordingHandler<Unit>()
                withRecordedClient({
                    url = server.url()
                    wireTap = broken
                }, handler) { client, _ ->
                    client.awaitConnected()
                    repeat(3) { client.send(Frame.Text("m$it")) }
                    List(3) { (handler.awaitSeen<Seen.Received>().frame as Frame.Text).text } shouldBe
                        listOf("m0", "m1", "m2")
                    calls.get() shouldBe 6
                    client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                }
            }
        }

        test("a tapped frame's toString names it without its payload") {
            val frame = TappedFrame(3, WireDirection.OUTBOUND, FrameKind.TEXT, null, "password=hunter2")
            frame.toString() shouldBe "TappedFrame(connection 3, OUTBOUND, TEXT)"
            frame.toString() shouldNotContain "hunter2"
            frame.payload.decodeToString() shouldBe "password=hunter2"
            frame.closeCode shouldBe null
        }
    })
