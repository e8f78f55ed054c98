package dev.parley

import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.KtorTestServer
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.ints.shouldBeGreaterThan
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.withTimeoutOrNull
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource

/**
 * The writer takes user frames only once onConnect has run (its "user gate"). A frame sent right after the upgrade
 * must then be written at once, not left waiting until some control frame (a pong, a heartbeat ping) happens to wake
 * the writer. The window for that mistake is a race between the loop opening the gate and the writer's first wait,
 * so this spec opens many fresh connections in parallel (for up to [BUDGET], stopping at the first stuck frame) and
 * sends one frame on each as soon as it is connected. The race is rare per connection (roughly 1 in 100 to 1 in 1000
 * on a 2-core machine), so a buggy writer is caught in most runs, not all; a correct one always passes.
 */
class WriterGateSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 60.seconds)

        test("a frame sent right after the upgrade is written without waiting for any other frame (many connections)") {
            KtorTestServer().start().use { server ->
                val connections = AtomicInteger()
                val stuck = Collections.synchronizedList(mutableListOf<String>())
                val started = TimeSource.Monotonic.markNow()
                (1..LANES).map {
                    async(Dispatchers.Default) {
                        while (started.elapsedNow() < BUDGET && stuck.isEmpty()) {
                            val handler = recorder()
                            val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                            try {
                                handler.expect<Seen.Connected>()
                                client.awaitConnected()
                                val n = connections.incrementAndGet()
                                // A healthy write to loopback takes microseconds; 3 s means the writer is not looking.
                                withTimeoutOrNull(3.seconds) { client.send(Frame.Text("first")) }
                                    ?: stuck.add("connection #$n: ${client.metrics()}")
                            } finally {
                                client.stop()
                            }
                        }
                    }
                }.awaitAll()
                println("writer gate: ${connections.get()} fresh connections in ${started.elapsedNow()}")
                connections.get() shouldBeGreaterThan 0
                withClue("first sends that were never written (sendQueueDepth 1, framesSent 0)") {
                    stuck.shouldBeEmpty()
                }
            }
        }
    }) {
    private companion object {
        const val LANES = 4
        val BUDGET = 10.seconds
    }
}
