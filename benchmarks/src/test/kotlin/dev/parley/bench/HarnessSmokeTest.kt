package dev.parley.bench

import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

/**
 * The benchmark harness, end to end with tiny counts, so that it cannot rot: every client's adapter echoes (the text
 * workload), and every workload runs with Parley (both APIs) and raw Ktor. Real processes on 127.0.0.1, as in a full
 * run; about 40 s on 2 cores.
 */
class HarnessSmokeTest {
    private val plan = Plan.smoke()
    private val out = File("target/smoke-test")

    @Test
    fun `every client echoes and every workload produces sane figures`() {
        val everyClient = Harness.run(Options(plan, File(out, "clients"), Clients.all, workloads("text")))
        val parleyAndKtor = listOf("parley-kotlin", "parley-java", Clients.BASELINE).map { Clients.byId(it) }
        val everyWorkload =
            Harness.run(
                Options(plan, File(out, "workloads"), parleyAndKtor, plan.workloads.filter { it.key != "text" }),
            )

        val runs = everyClient.runs + everyWorkload.runs
        assertTrue(runs.size == Clients.all.size + 3 * 4 + 2) { "unexpected runs: ${runs.map { it.key to it.client }}" }
        for (run in runs) {
            assertTrue(run.ok) { "${run.key} with ${run.client} failed: ${run.error} (logs in $out)" }
            val m = run.metrics.mapValues { (_, v) -> (v as? Number)?.toDouble() }
            fun has(metric: String, sane: (Double) -> Boolean) {
                val value = m[metric]
                assertTrue(value != null && sane(value)) { "${run.key} with ${run.client}: $metric = $value" }
            }
            when (run.key) {
                "text" -> {
                    has("messages") { it == 2_000.0 }
                    has("msgsPerSec") { it > 0 }
                }

                "binary" -> {
                    has("messages") { it == 200.0 }
                    has("mbPerSec") { it > 0 }
                }

                "rtt" -> {
                    has("roundTrips") { it == 200.0 }
                    has("p50Us") { it > 0 && it <= m["p99Us"]!! && m["p99Us"]!! <= m["p999Us"]!! }
                }

                "connect" -> has("p50Ms") { it > 0 && it <= m["p99Ms"]!! }

                "idle-50" -> {
                    has("connections") { it == 50.0 }
                    has("heapKiBPerConn") { it > 0 }
                    has("threads") { it >= 0 }
                }

                "reconnect" -> has("p50Ms") { it > 0 && it < 10_000 }

                else -> error("unexpected workload ${run.key}")
            }
        }
        for (dir in listOf("clients", "workloads")) {
            for (file in listOf("results.json", "results.md", "chart.png")) {
                assertTrue(File(out, "$dir/$file").length() > 0) { "$dir/$file was not written" }
            }
        }
    }

    private fun workloads(vararg keys: String) = plan.workloads.filter { it.key in keys }
}
