package dev.parley.recorder

import dev.parley.ConnectionState
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.FrameKind
import dev.parley.HandlerAction
import dev.parley.Parley
import dev.parley.ParleyHandler
import dev.parley.TappedFrame
import dev.parley.WireDirection
import dev.parley.WireTap
import dev.parley.parleyOptions
import dev.parley.testkit.WebSocketTestServer
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.ints.shouldBeGreaterThan
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withTimeout
import java.io.ByteArrayOutputStream
import java.io.OutputStream
import java.io.StringReader
import java.nio.file.Files
import java.nio.file.Path
import java.time.Instant
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration.Companion.seconds

/**
 * Writes down every callback it gets, and answers "quote?" with a pushed "thanks": the handler whose calls a replay
 * must reproduce.
 */
private class Journal : ParleyHandler<Unit> {
    val calls = mutableListOf<String>()
    val received = Channel<String>(Channel.UNLIMITED)

    override suspend fun onConnect(state: Unit): HandlerAction<Unit> {
        calls += "connect"
        return HandlerAction.Ok(state)
    }

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> {
        val what =
            when (frame) {
                is Frame.Text -> "text ${frame.text}"
                is Frame.Binary -> "binary ${frame.bytes.size}"
                else -> frame::class.simpleName!!.lowercase()
            }
        calls += what
        received.send(what)
        if (frame is Frame.Text &&
            frame.text.startsWith("quote")
        ) {
            return HandlerAction.Push(Frame.Text("thanks"), state)
        }
        return HandlerAction.Ok(state)
    }

    override suspend fun onDisconnect(reason: DisconnectReason, state: Unit): DisconnectDecision<Unit> {
        calls += "disconnect ${reason::class.simpleName}"
        return DisconnectDecision.StayDisconnected(state)
    }

    suspend fun awaitReceived(): String = withTimeout(5.seconds) { received.receive() }
}

/** An output stream whose writes wait until [release]: a disk that has stopped answering. */
private class StalledStream : OutputStream() {
    private val gate = CountDownLatch(1)
    val written = ByteArrayOutputStream()

    fun release() = gate.countDown()

    override fun write(b: Int) {
        gate.await()
        synchronized(written) { written.write(b) }
    }

    override fun write(b: ByteArray, off: Int, len: Int) {
        gate.await()
        synchronized(written) { written.write(b, off, len) }
    }
}

/** Counts the frames it is shown before handing them on: the number a recorder must account for. */
private class Counted(
    private val next: WireTap,
) : WireTap by next {
    val frames = AtomicLong()

    override fun frame(frame: TappedFrame) {
        frames.incrementAndGet()
        next.frame(frame)
    }
}

/** A session against [server]: connect, send [texts] one at a time (each echoed or answered), then disconnect. */
private suspend fun session(server: WebSocketTestServer, tap: WireTap, handler: Journal, texts: List<String>) {
    val client = Parley.start(
        handler,
        Unit,
        parleyOptions {
            url = server.url()
            wireTap = tap
        },
    )
    try {
        withTimeout(5.seconds) { client.state.first { it is ConnectionState.Connected } }
        for (text in texts) {
            client.send(Frame.Text(text))
            handler.awaitReceived()
        }
        client.disconnect()
        withTimeout(5.seconds) { client.state.first { it is ConnectionState.Disconnected && it.reason != null } }
    } finally {
        client.stop()
    }
}

private fun tempFile(name: String): Path = Files.createTempDirectory("parley-recorder").resolve(name)

class RecorderSpec :
    FunSpec({
        test("a session is recorded both ways to JSONL and read back with its summary") {
            WebSocketTestServer.builder().echo().start().use { server ->
                val file = tempFile("session.jsonl")
                FrameRecorder.create(file).use { recorder ->
                    session(server, recorder, Journal(), listOf("hello", "world"))
                }
                val lines = Files.readAllLines(file)
                lines.first() shouldContain "\"format\":\"parley-recording\""
                val recording = Recording.read(file)
                recording.entries.map { entry ->
                    when (entry) {
                        is RecordedConnect -> "connected"
                        is RecordedDisconnect -> "disconnected ${entry.reason} ${entry.closeCode}"
                        is RecordedFrame -> "${entry.direction} ${entry.kind} ${entry.text ?: entry.closeCode}"
                        is RecordedGap -> "gap"
                    }
                } shouldContainExactly listOf(
                    "connected",
                    "OUTBOUND TEXT hello",
                    "INBOUND TEXT hello",
                    "OUTBOUND TEXT world",
                    "INBOUND TEXT world",
                    "OUTBOUND CLOSE 1000",
                    "INBOUND CLOSE 1000",
                    "disconnected ClosedLocally 1000",
                )
                val summary = recording.summary
                summary.frames shouldBe 6
                summary.inbound shouldBe 3
                summary.outbound shouldBe 3
                summary.connections shouldBe 1
                summary.dropped shouldBe 0
                summary.byKind[FrameKind.TEXT] shouldBe 4
                summary.duration shouldBe java.time.Duration.between(summary.first, summary.last)
            }
        }

        test("secrets are taken out of JSON fields and name=value pairs before they are written") {
            WebSocketTestServer.builder().echo().start().use { server ->
                val file = tempFile("secrets.jsonl")
                val recorder = FrameRecorder.create(file)
                recorder.use {
                    session(
                        server,
                        recorder,
                        Journal(),
                        listOf(
                            """{"op":"login","args":{"api_key":"k-123","Signature":"s-456"},"id":7}""",
                            "auth?token=t-789&symbol=BTC",
                            """{"op":"subscribe","channel":"trades"}""",
                        ),
                    )
                }
                val written = Files.readString(file)
                written shouldNotContain "k-123"
                written shouldNotContain "s-456"
                written shouldNotContain "t-789"
                val texts = Recording.read(file).frames().filter { it.kind == FrameKind.TEXT }
                texts.first().text shouldBe
                    """{"op":"login","args":{"api_key":"[redacted]","Signature":"[redacted]"},"id":7}"""
                texts.first().redacted shouldBe true
                texts[2].text shouldBe "auth?token=[redacted]&symbol=BTC"
                texts[4].text shouldBe """{"op":"subscribe","channel":"trades"}"""
                texts[4].redacted shouldBe false
                recorder.stats().redacted shouldBe 4 // each secret twice: sent, then echoed
            }
        }

        test("a stalled output never holds the client up: what does not fit is dropped, counted and marked") {
            WebSocketTestServer.builder().echo().start().use { server ->
                val stalled = StalledStream()
                val recorder = FrameRecorder.toStream(stalled, RecorderOptions.builder().maxBufferedFrames(50).build())
                val counted = Counted(recorder)
                val handler = Journal()
                // 2,000 round trips through a recorder whose output wrote nothing: the client finishes all of them.
                session(server, counted, handler, List(1000) { "m$it" })
                handler.calls.count { it.startsWith("text") } shouldBe 1000
                val dropped = recorder.stats().dropped
                dropped shouldBeGreaterThan 1000L
                stalled.release()
                recorder.close()
                val stats = recorder.stats()
                // Every frame shown to the recorder is written or counted as dropped, and the file says where.
                withClue("$stats, ${counted.frames.get()} frames shown; recording ${stalled.written.size()} bytes") {
                    stats.recorded + stats.dropped shouldBe counted.frames.get()
                }
                val recording = Recording.read(StringReader(stalled.written.toString(Charsets.UTF_8)))
                recording.frames().size.toLong() shouldBe stats.recorded
                recording.summary.dropped shouldBe stats.dropped
            }
        }

        test(
            "files rotate at their size limit, the oldest beyond the limit is deleted, and readAll reads them in order",
        ) {
            val file = tempFile("rotating.jsonl")
            val options = RecorderOptions.builder().maxFileBytes(4096).maxFiles(3).build()
            val recorder = FrameRecorder.create(file, options)
            recorder.connected(1, null)
            val frames = 400
            repeat(frames) {
                recorder.frame(tapped(1, WireDirection.OUTBOUND, "message number $it, padded ${"x".repeat(40)}"))
            }
            recorder.close()
            val stats = recorder.stats()
            stats.dropped shouldBe 0
            stats.rotations shouldBeGreaterThan 3
            Files.exists(file.resolveSibling("rotating.1.jsonl")) shouldBe true
            Files.exists(file.resolveSibling("rotating.2.jsonl")) shouldBe true
            Files.exists(file.resolveSibling("rotating.3.jsonl")) shouldBe false
            for (name in listOf("rotating.jsonl", "rotating.1.jsonl", "rotating.2.jsonl")) {
                (Files.size(file.resolveSibling(name)) <= 4096) shouldBe true
                Files.readAllLines(file.resolveSibling(name)).first() shouldContain "parley-recording"
            }
            val texts = Recording.readAll(file).frames().map { it.text!!.substringBefore(',') }
            texts.last() shouldBe "message number ${frames - 1}"
            // Consecutive: the kept files are the newest, read oldest first.
            val first = texts.first().removePrefix("message number ").toInt()
            texts shouldContainExactly (first until frames).map { "message number $it" }
        }

        test("a recording replayed into a handler makes the calls the live handler made, and collects its pushes") {
            WebSocketTestServer.builder().echo().start().use { server ->
                val file = tempFile("replay.jsonl")
                val live = Journal()
                FrameRecorder.create(file).use { session(server, it, live, listOf("quote BTC", "hello", "quote ETH")) }
                val replayed = Journal()
                val result = Recording.read(file).replay(replayed, Unit)
                replayed.calls shouldContainExactly live.calls
                live.calls.first() shouldBe "connect"
                result.pushed.map { (it.frame as Frame.Text).text } shouldContainExactly listOf("thanks", "thanks")
                result.stopped shouldBe false
            }
        }

        test("in real time, a replay waits the recorded time between entries") {
            runTest {
                val start = Instant.parse("2026-12-03T10:00:00Z")
                val recording = Recording.of(
                    listOf(
                        RecordedConnect(start, 1, null),
                        frame(start.plusSeconds(10), "a"),
                        frame(start.plusSeconds(25), "b"),
                    ),
                )
                val handler = Journal()
                recording.replay(handler, Unit, ReplayPace.REAL_TIME)
                testScheduler.currentTime shouldBe 25_000
                handler.calls shouldContainExactly listOf("connect", "text a", "text b")
            }
        }

        test("a recording served from the test kit plays the session to a new client, which gets the same calls") {
            val server =
                WebSocketTestServer.builder().onText("subscribe trades", "trade 1").onText("quote BTC", "quote 100")
                    .start()
            val file = tempFile("served.jsonl")
            val live = Journal()
            server.use {
                FrameRecorder.create(file).use { session(server, it, live, listOf("subscribe trades", "quote BTC")) }
            }
            RecordingServer.start(Recording.read(file)).use { playback ->
                val again = Journal()
                val client = Parley.start(again, Unit, parleyOptions { url = playback.url() })
                try {
                    withTimeout(5.seconds) { client.state.first { it is ConnectionState.Connected } }
                    client.send(Frame.Text("subscribe trades"))
                    again.awaitReceived() shouldBe "text trade 1"
                    client.send(Frame.Text("quote BTC"))
                    again.awaitReceived() shouldBe "text quote 100"
                    // The pushed "thanks" is expected too: the playback waits for it, then for our close.
                    client.disconnect()
                    val report = runInterruptible(Dispatchers.IO) { playback.awaitPlayed() }
                    report.faithful shouldBe true
                    report.expected shouldBe 3
                    report.played shouldBe 2
                    withTimeout(5.seconds) {
                        client.state.first {
                            it is ConnectionState.Disconnected &&
                                it.reason != null
                        }
                    }
                } finally {
                    client.stop()
                }
                again.calls shouldContainExactly live.calls
            }
        }

        test("a file that is not a recording is refused with the line that is wrong") {
            shouldThrow<RecordingFormatException> { Recording.read(StringReader("{\"hello\":1}\n")) }
                .message shouldContain "does not start with a parley-recording header"
            val header = """{"format":"parley-recording","version":1,"started":"2026-12-03T10:00:00Z"}"""
            shouldThrow<RecordingFormatException> { Recording.read(StringReader("$header\nnot json\n"), "trace.jsonl") }
                .message shouldContain "trace.jsonl line 2"
            shouldThrow<RecordingFormatException> {
                Recording.read(StringReader("""{"format":"parley-recording","version":9,"started":"x"}"""))
            }.message shouldContain "version 9"
        }
    })

private fun frame(at: Instant, text: String) =
    RecordedFrame(at, 1, WireDirection.INBOUND, FrameKind.TEXT, text, null, null, null, false)

private fun tapped(connection: Long, direction: WireDirection, text: String): TappedFrame =
    TappedFrame.text(connection, direction, text)
