package dev.parley.testing.suite

import dev.parley.CloseCodes
import dev.parley.Frame
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.ScriptedWsPeer
import dev.parley.testing.WsOpcode
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContain
import io.kotest.matchers.ints.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeoutOrNull
import java.io.File
import kotlin.random.Random
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * What every way of using Parley must do alike, run over one [ClientPath] per subclass (Krossbow's one-suite-
 * every-engine idea): framing, fragmentation, compression, the close handshake, heartbeats, faults and leaks. The
 * servers are npm's `ws` (scripted by `.ci/peers`, deflate on and off) for what real servers do, and a raw server for
 * the protocol violations no real server commits.
 */
abstract class ClientBehaviourSuite(path: ClientPath) :
    FunSpec({
        val ws = ScriptedWsPeer.npmWs()
        val deflating = ScriptedWsPeer.npmWs(deflate = true, deflateOptions = """{"threshold":0}""")
        afterSpec {
            path.close()
            ws.close()
            deflating.close()
        }

        /** Runs [block] with a client of [server] at [at]; stops it after. */
        suspend fun withClient(
            server: ScriptedWsPeer,
            at: String,
            settings: SuiteSettings = SuiteSettings(),
            block: suspend (SuiteClient) -> Unit,
        ) {
            val client = path.start(path.url(server.port, at), settings)
            try {
                block(client)
            } finally {
                client.stop()
            }
        }

        /** A raw server that sends [violation] once connected; the client must end with [how] and [code]. */
        suspend fun rawFault(
            how: Ending,
            code: Int,
            settings: SuiteSettings,
            violation: suspend (dev.parley.testing.RawPeer) -> Unit,
        ) {
            RawWebSocketServer().use { raw ->
                val client = path.start(path.url(raw.port, "/raw"), settings)
                try {
                    raw.awaitConnection().use { peer ->
                        client.expect<Observed.Connected>()
                        violation(peer)
                        client.await<Observed.Ended>() shouldBe Observed.Ended(how, code)
                    }
                } finally {
                    client.stop()
                }
            }
        }

        context(path.name) {
            context("framing") {
                for ((label, server) in listOf("plain" to ws, "permessage-deflate" to deflating)) {
                    test("$label: text (UTF-8, empty) and binary up to 1 MiB come back as sent, in order") {
                        withClient(server, "/echo") { client ->
                            client.expect<Observed.Connected>()
                            val big = Random(21).nextBytes(1 shl 20)
                            val frames =
                                listOf(Frame.Text("grüße 👋"), Frame.Text(""), Frame.Binary(big), Frame.Text("last"))
                            frames.forEach { client.send(it) }
                            for (frame in frames) client.expect<Observed.Message>().frame shouldBe frame
                        }
                    }
                }

                test("permessage-deflate is agreed with a server that offers it, and only when offered") {
                    withClient(deflating, "/echo") { client ->
                        client.expect<Observed.Connected>().headers["sec-websocket-extensions"].orEmpty()
                            .single() shouldContain "permessage-deflate"
                    }
                    withClient(deflating, "/echo", SuiteSettings(compression = false)) { client ->
                        client.expect<Observed.Connected>().headers["sec-websocket-extensions"] shouldBe null
                    }
                }
            }

            context("fragmentation") {
                for ((label, server) in listOf("plain" to ws, "permessage-deflate" to deflating)) {
                    test("$label: a message the server sends as four frames arrives as one") {
                        withClient(server, "/fragments?count=4") { client ->
                            client.expect<Observed.Connected>()
                            val text = "fragment me ".repeat(1000)
                            client.send(Frame.Text(text))
                            client.expect<Observed.Message>().frame shouldBe Frame.Text(text)
                        }
                    }
                }
            }

            context("the close handshake") {
                test("the server's close with a code and reason ends the connection with both") {
                    withClient(ws, "/close?code=4001&reason=bye") { client ->
                        client.expect<Observed.Connected>()
                        client.await<Observed.Ended>() shouldBe Observed.Ended(Ending.CLOSED_BY_PEER, 4001)
                    }
                }

                test("our disconnect closes politely, after what was sent is delivered") {
                    withClient(ws, "/echo") { client ->
                        client.expect<Observed.Connected>()
                        client.send(Frame.Text("before the close"))
                        client.expect<Observed.Message>().frame shouldBe Frame.Text("before the close")
                        client.disconnect()
                        client.await<Observed.Ended>().how shouldBe Ending.CLOSED_LOCALLY
                    }
                }
            }

            context("heartbeat") {
                test("the server's pings are seen, and answered (the server counts the pongs)") {
                    withClient(ws, "/ping?every=100") { client ->
                        client.expect<Observed.Connected>()
                        repeat(2) { client.await<Observed.Ping>().payload shouldBe "peer-ping" }
                        client.send(Frame.Text("pongs?"))
                        val answer = client.await<Observed.Message>().frame.shouldBeInstanceOf<Frame.Text>().text
                        answer.removePrefix("pongs ").toInt() shouldBeLessThanOrEqual 1000
                        withClue(answer) { (answer.removePrefix("pongs ").toInt() >= 2) shouldBe true }
                    }
                }

                test("a server gone silent is found dead within interval + timeout") {
                    val settings = SuiteSettings(heartbeat = 200.milliseconds to 300.milliseconds)
                    withClient(ws, "/silent", settings) { client ->
                        client.expect<Observed.Connected>()
                        client.await<Observed.Ended>(5.seconds).how shouldBe Ending.HEARTBEAT_TIMEOUT
                    }
                }
            }

            context("faults") {
                test("a server that drops TCP without a close frame is a transport failure") {
                    withClient(ws, "/destroy?after=1") { client ->
                        client.expect<Observed.Connected>()
                        client.send(Frame.Text("last words"))
                        client.expect<Observed.Message>().frame shouldBe Frame.Text("last words")
                        client.await<Observed.Ended>().how shouldBe Ending.TRANSPORT_FAILED
                    }
                }

                test("an HTTP rejection of the upgrade is a handshake rejection with its status") {
                    withClient(ws, "/reject?status=403") { client ->
                        client.await<Observed.Ended>() shouldBe Observed.Ended(Ending.HANDSHAKE_REJECTED, status = 403)
                    }
                }

                if (path.refusesMaskedFrames) {
                    test("a masked frame from the server is a protocol violation (1002)") {
                        rawFault(Ending.PROTOCOL_VIOLATION, CloseCodes.PROTOCOL_ERROR, SuiteSettings()) { peer ->
                            peer.sendFrame(WsOpcode.TEXT, "masked".encodeToByteArray(), mask = true)
                        }
                    }
                } else {
                    test("a masked frame from the server is unmasked and delivered: this path cannot tell") {
                        RawWebSocketServer().use { raw ->
                            val client = path.start(path.url(raw.port, "/raw"))
                            try {
                                raw.awaitConnection().use { peer ->
                                    client.expect<Observed.Connected>()
                                    peer.sendFrame(WsOpcode.TEXT, "masked".encodeToByteArray(), mask = true)
                                    client.expect<Observed.Message>().frame shouldBe Frame.Text("masked")
                                }
                            } finally {
                                client.stop()
                            }
                        }
                    }
                }

                test("text that is not UTF-8 is a protocol violation (1007)") {
                    rawFault(Ending.PROTOCOL_VIOLATION, CloseCodes.INVALID_PAYLOAD, SuiteSettings()) { peer ->
                        peer.sendFrame(WsOpcode.TEXT, byteArrayOf(0x61, -0x3f, 0x62))
                    }
                }

                test("a message over maxFrameSize closes with 1009") {
                    rawFault(
                        Ending.MESSAGE_TOO_BIG,
                        CloseCodes.MESSAGE_TOO_BIG,
                        SuiteSettings(maxFrameSize = 1000),
                    ) { peer ->
                        peer.sendFrame(WsOpcode.BINARY, ByteArray(2000))
                    }
                }
            }

            context("leaks") {
                test("twenty connections opened and stopped leave no descriptor or thread behind") {
                    suspend fun cycle() = withClient(ws, "/echo") { client ->
                        client.expect<Observed.Connected>()
                        client.send(Frame.Text("hi"))
                        client.expect<Observed.Message>()
                    }
                    cycle() // warms up what lives for the JVM's life: the selector thread, pools, classes
                    val fds = openDescriptors()
                    val threads = Thread.activeCount()
                    repeat(20) { cycle() }
                    // Sockets close as the peers' FINs arrive and lingering releases end: wait for that, bounded.
                    val settled = withTimeoutOrNull(5.seconds) {
                        while (openDescriptors() > fds + SLACK || Thread.activeCount() > threads + SLACK) delay(50)
                    }
                    withClue(
                        "descriptors ${openDescriptors()} (from $fds), threads ${Thread.activeCount()} (from $threads)",
                    ) {
                        (settled != null) shouldBe true
                    }
                }
            }
        }
    })

/** Descriptors or threads that other work in the JVM may open meanwhile (a GC thread, a log file, Kotest's own). */
private const val SLACK = 4

private fun openDescriptors(): Int = File("/proc/self/fd").list()?.size ?: 0
