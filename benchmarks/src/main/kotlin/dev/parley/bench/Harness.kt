package dev.parley.bench

import com.fasterxml.jackson.databind.ObjectMapper
import java.io.File
import kotlin.system.exitProcess

/** The outcome of one client process: what it printed, or why it printed nothing. */
data class RunResult(
    val round: Int,
    val key: String,
    val client: String,
    val ok: Boolean,
    val metrics: Map<String, Any?>,
    val error: String?,
    val seconds: Double,
)

/**
 * Runs every workload for every client, each in its own JVM, against the Netty echo server in another JVM. Clients
 * are interleaved (round 1: A B C … G for each workload, round 2: A B C … G, …) so that a slow drift of the
 * machine does not favour one of them; results are medians over rounds, with min and max, and ratios to raw Ktor CIO.
 *
 * ```
 * Harness [--smoke] [--out DIR] [--rounds N] [--clients id,id] [--workloads key,key]
 * ```
 * A workload key also selects its variants (`wss-rtt`: wss-rtt-tls13 and wss-rtt-tls12). Writes DIR/results.json,
 * DIR/results.md and DIR/chart.png; each process's output goes to DIR/logs/, the wss certificate to DIR/tls/.
 */
object Harness {
    private val json = ObjectMapper()

    @JvmStatic
    fun main(args: Array<String>) {
        if (!Snapshot.active) exitProcess(runFromSnapshot(args))
        val options = Options.parse(args.flatMap { it.trim().split(Regex("\\s+")) }.filter { it.isNotEmpty() })
        options.reportFrom?.let {
            rerender(it, options)
            exitProcess(0)
        }
        val results = run(options)
        // A wss connection a client cannot open (an unsupported TLS version) is a result: "n/a (reason)".
        val failed = results.runs.count { !it.ok && it.metrics["unsupported"] != true }
        // A smoke run exists to catch rot: any failure fails it. In a full run, a failure is a result (reported).
        exitProcess(if (options.plan.mode == "smoke" && failed > 0) 1 else 0)
    }

    /** Runs this harness in a new JVM from a snapshot of the classpath (see [Snapshot]); returns its exit code. */
    private fun runFromSnapshot(args: Array<String>): Int {
        val snapshot = Snapshot.take()
        try {
            val command =
                listOf(Launcher.JAVA, "-Xmx512m", "-D${Snapshot.PROPERTY}=true", "-cp", snapshot.classpath) +
                    Harness::class.java.name + args
            val harness = ProcessBuilder(command).inheritIO().start()
            // Ctrl-C or a kill reaches this JVM first: pass it on, so that the harness can stop its children.
            Runtime.getRuntime().addShutdownHook(
                Thread {
                    harness.destroy()
                    harness.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)
                    snapshot.delete()
                },
            )
            return harness.waitFor()
        } finally {
            snapshot.delete()
        }
    }

    /** Writes the report again from an earlier run's results.json (after a change to how results are reported). */
    private fun rerender(json: File, options: Options) {
        val tree = com.fasterxml.jackson.databind.ObjectMapper().readTree(json)
        val mapper = com.fasterxml.jackson.databind.ObjectMapper()

        @Suppress("UNCHECKED_CAST")
        fun map(node: com.fasterxml.jackson.databind.JsonNode) =
            mapper.convertValue(node, Map::class.java) as Map<String, Any?>
        val runs =
            tree["runs"].map {
                RunResult(
                    it["round"].asInt(),
                    it["key"].asText(),
                    it["client"].asText(),
                    it["ok"].asBoolean(),
                    map(it["metrics"]),
                    it["error"]?.takeUnless { e -> e.isNull }?.asText(),
                    it["seconds"].asDouble(),
                )
            }
        val ran = runs.map { it.key }.toSet()
        val clients = tree["clients"].map { Clients.byId(it["id"].asText()) }
        val plan = options.plan.copy(rounds = tree["rounds"].asInt())
        val again = options.copy(plan = plan, clients = clients, workloads = plan.workloads.filter { it.key in ran })
        val report = Report(plan, again, map(tree["machine"]), runs, tree["totalSeconds"].asDouble())
        report.write(options.out.apply { mkdirs() })
        log(report.summaryMarkdown())
    }

    fun run(options: Options): Report {
        // The chart is drawn off-screen, also on machines with a display.
        System.setProperty("java.awt.headless", "true")
        val started = System.nanoTime()
        val out = options.out.apply { mkdirs() }
        val logs = File(out, "logs").apply { deleteRecursively() }
        val launcher = Launcher(logs)
        val plan = options.plan
        val clients = options.clients
        val machine = Machine.describe()
        log("Parley benchmarks, ${plan.mode} mode: ${plan.rounds} round(s), clients ${clients.joinToString { it.id }}")
        log("machine: $machine")
        // The wss workloads need the echo server's certificate, generated for this run (see TlsCert).
        val keyStore = if (options.workloads.any { it.tls != null }) TlsCert.generate(File(out, "tls")) else null
        val server = ServerControl(launcher, Launcher.freePort(), keyStore)
        val runs = mutableListOf<RunResult>()
        try {
            for (round in 1..plan.rounds) {
                // A fresh, warmed-up server each round: the reconnect workload leaves one that barely warmed up.
                server.kill()
                server.start(plan.serverWarmupMillis)
                for (spec in options.workloads.filter { it.rounds == null || round <= it.rounds }) {
                    for (client in runners(spec, clients)) {
                        val result = runOne(launcher, server, plan, spec, client, round)
                        runs += result
                        log(describe(result))
                    }
                }
            }
        } finally {
            server.kill()
            launcher.close()
        }
        // Other work on the machine skews everything; the load average before and after tells a reader if there was any.
        val load = java.lang.management.ManagementFactory.getOperatingSystemMXBean().systemLoadAverage
        val report = Report(
            plan,
            options,
            machine + ("loadAverageAtEnd" to load),
            runs,
            (System.nanoTime() - started) / 1e9,
        )
        report.write(out)
        log("\n" + report.summaryMarkdown())
        log("wrote ${File(out, "results.md")}, results.json, chart.png in %.0f s".format(report.totalSeconds))
        return report
    }

    private fun runOne(
        launcher: Launcher,
        server: ServerControl,
        plan: Plan,
        spec: WorkloadSpec,
        client: ClientKind,
        round: Int,
    ): RunResult {
        val started = System.nanoTime()
        val url =
            if (spec.tls == null) {
                "ws://127.0.0.1:${server.port}${spec.params["path"] ?: "/echo"}"
            } else {
                "wss://127.0.0.1:${server.tlsPorts.getValue(spec.tls)}/echo"
            }
        val trust = if (spec.tls == null) emptyList() else listOf("trustStore=${server.keyStore!!.path}")
        val args =
            listOf(
                "client=${client.id}",
                "workload=${spec.workload}",
                "url=$url",
            ) + spec.params.map { (k, v) -> "$k=$v" } + trust
        val logName = "round-$round/${spec.key}-${client.id}"
        val child = launcher.start(plan.clientJvm, ClientMain::class.java.name, args, logName)
        fun seconds() = (System.nanoTime() - started) / 1e9
        fun failed(why: String) = RunResult(round, spec.key, client.id, false, emptyMap(), why, seconds())
        return try {
            if (spec.workload == "reconnect") driveReconnects(child, server, plan)
            val line = child.awaitLine(ClientMain.RESULT_PREFIX, spec.timeoutSeconds * 1_000)
            if (line == null) {
                failed("no result within ${spec.timeoutSeconds} s (or the process died); see logs/")
            } else {
                @Suppress("UNCHECKED_CAST")
                val metrics = json.readValue(line.removePrefix(ClientMain.RESULT_PREFIX), Map::class.java)
                    as Map<String, Any?>
                val ok = metrics["ok"] == true
                RunResult(round, spec.key, client.id, ok, metrics, metrics["error"] as String?, seconds())
            }
        } catch (e: Exception) {
            failed(e.toString())
        } finally {
            child.finish()
            // Whatever happened, the next run needs a server.
            runCatching { if (spec.workload == "reconnect") server.ensureRunning(plan.serverWarmupMillis) }
        }
    }

    /** The clients that run [spec]: those it is limited to, and those limited to workloads that include it. */
    fun runners(spec: WorkloadSpec, clients: List<ClientKind>): List<ClientKind> = clients.filter {
        (spec.clients == null || it.id in spec.clients) && (it.only == null || spec.workload in it.only)
    }

    /** Kills and restarts the server [Plan.reconnectCycles] times, telling the client when the new one listens. */
    private fun driveReconnects(child: ChildProcess, server: ServerControl, plan: Plan) {
        checkNotNull(child.awaitLine("READY", 30_000)) { "client never connected" }
        repeat(plan.reconnectCycles) {
            server.kill()
            checkNotNull(child.awaitLine("DOWN", 10_000)) { "client did not notice the server going away" }
            Thread.sleep(plan.downMillis) // several reconnect attempts fail while the server is down
            val listening = server.start(plan.restartWarmupMillis)
            child.send("UP $listening")
            checkNotNull(child.awaitLine("RECONNECTED", 35_000)) { "client did not reconnect" }
        }
        child.send("DONE")
    }

    private fun describe(r: RunResult): String {
        val m = r.metrics
        val what =
            when {
                m["unsupported"] == true -> "n/a (${r.error})"

                // An incomplete idle run still has figures; any other failure has none.
                !r.ok && (!r.key.startsWith("idle") || m["connections"] == null) -> "FAILED: ${r.error}"

                r.key.contains("text") -> "%,.0f msgs/s".format(m["msgsPerSec"])

                r.key.contains("binary") -> "%.1f MB/s".format(m["mbPerSec"])

                r.key.contains("rtt") ->
                    "p50 %.1f µs, p99 %.1f µs, p99.9 %.1f µs".format(m["p50Us"], m["p99Us"], m["p999Us"])

                r.key == "connect" -> "p50 %.2f ms, p99 %.2f ms".format(m["p50Ms"], m["p99Ms"])

                r.key.startsWith("idle") ->
                    "%s conns: heap %.1f KiB/conn, RSS %.1f KiB/conn, +%s threads".format(
                        m["connections"],
                        m["heapKiBPerConn"],
                        m["rssKiBPerConn"],
                        m["threads"],
                    ) + if (r.ok) "" else " (INCOMPLETE: ${r.error})"

                r.key == "reconnect" -> "p50 %.1f ms (min %.1f, max %.1f)".format(m["p50Ms"], m["minMs"], m["maxMs"])

                else -> m.toString()
            }
        return "[round %d] %-16s %-21s %s (%.1f s)".format(r.round, r.key, r.client, what, r.seconds)
    }

    private fun log(line: String) {
        println(line)
        System.out.flush()
    }
}

/** Command-line options. */
data class Options(
    val plan: Plan,
    val out: File,
    val clients: List<ClientKind>,
    val workloads: List<WorkloadSpec>,
    /** An earlier run's results.json to report again instead of running. */
    val reportFrom: File? = null,
) {
    companion object {
        fun parse(args: List<String>): Options {
            var plan = Plan.full()
            var out = File("results")
            var clientIds: List<String>? = null
            var keys: List<String>? = null
            var rounds: Int? = null
            var reportFrom: File? = null
            val it = args.iterator()
            while (it.hasNext()) {
                when (val arg = it.next()) {
                    "--smoke" -> plan = Plan.smoke()
                    "--out" -> out = File(it.next())
                    "--rounds" -> rounds = it.next().toInt()
                    "--clients" -> clientIds = it.next().split(',')
                    "--workloads" -> keys = it.next().split(',')
                    "--report-from" -> reportFrom = File(it.next())
                    else -> error("unknown argument '$arg'")
                }
            }
            if (rounds != null) plan = plan.copy(rounds = rounds)
            val clients = clientIds?.map { Clients.byId(it) } ?: Clients.all
            // A key also selects its variants: `wss-rtt` is wss-rtt-tls13 and wss-rtt-tls12, `idle` every idle-N.
            val workloads =
                keys?.flatMap { k ->
                    plan.workloads
                        .filter { it.key == k || it.key.startsWith("$k-") }
                        .ifEmpty { error("unknown workload '$k'; known: ${plan.workloads.joinToString { it.key }}") }
                }?.distinct() ?: plan.workloads
            return Options(plan, out, clients, workloads, reportFrom)
        }
    }
}
