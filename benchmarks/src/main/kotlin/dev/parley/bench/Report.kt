package dev.parley.bench

import com.fasterxml.jackson.databind.ObjectMapper
import java.io.File
import java.time.Instant
import java.util.Locale

/** One reported figure: which workload's result, which metric in it, how to show it, and which way is better. */
data class Column(
    val key: String,
    val metric: String,
    val label: String,
    val unit: String,
    val higherIsBetter: Boolean,
    val decimals: Int,
    /** Ratios make no sense for counts that may be zero (threads). */
    val ratio: Boolean = true,
    /** Also compared with the best peer (non-Parley client) of the same round: throughput and round trips. */
    val bestPeer: Boolean = false,
) {
    val id get() = "$key.$metric"
}

/** Median, min and max over rounds for one client and column, and the median's ratio to raw Ktor CIO's. */
data class Stat(
    val median: Double,
    val min: Double,
    val max: Double,
    val n: Int,
    /** Some runs were incomplete but measured (idle: short of the target, or connections that stopped answering). */
    val partial: Boolean,
    /** median / Ktor's median. */
    val ratio: Double?,
    /** How many times better than Ktor: [ratio] for throughput, its inverse for time and memory. */
    val advantage: Double?,
    /**
     * How many times better than the best peer of the same round (median over rounds); a peer's own figure counts,
     * so a peer is at most 1. Only for columns with [Column.bestPeer].
     */
    val vsBestPeer: Double? = null,
)

/** Aggregates the runs and writes results.json, results.md and chart.png. */
class Report(
    val plan: Plan,
    val options: Options,
    val machine: Map<String, Any?>,
    val runs: List<RunResult>,
    val totalSeconds: Double,
) {
    private val finishedAt = Instant.now()
    val clients = options.clients
    private val keys = options.workloads.map { it.key }.toSet()

    val columns: List<Column> =
        buildList {
            fun throughput(key: String, label: String) {
                if (key.contains("text")) {
                    add(Column(key, "msgsPerSec", "$label 64 B text", "msgs/s", true, 0, bestPeer = true))
                    add(Column(key, "cpuUsPerMsg", "$label 64 B text client CPU", "µs/msg", false, 2))
                } else {
                    add(Column(key, "mbPerSec", "$label 16 KiB binary", "MB/s", true, 1, bestPeer = true))
                }
            }
            fun rtt(key: String, label: String) {
                add(Column(key, "p50Us", "$label RTT p50", "µs", false, 1, bestPeer = true))
                add(Column(key, "p99Us", "$label RTT p99", "µs", false, 1, bestPeer = true))
                add(Column(key, "p999Us", "$label RTT p99.9", "µs", false, 1, bestPeer = true))
            }
            throughput("text", "")
            throughput("binary", "")
            rtt("rtt", "")
            add(Column("connect", "p50Ms", "connect p50", "ms", false, 2))
            add(Column("connect", "p99Ms", "connect p99", "ms", false, 2))
            for (idle in options.workloads.filter { it.workload == "idle" }) {
                add(Column(idle.key, "heapKiBPerConn", "heap/conn, ${idle.key}", "KiB", false, 1))
                add(Column(idle.key, "rssKiBPerConn", "RSS/conn, ${idle.key}", "KiB", false, 1))
                add(Column(idle.key, "threads", "threads, ${idle.key}", "threads", false, 0, ratio = false))
            }
            add(Column("reconnect", "p50Ms", "reconnect p50", "ms", false, 1))
            throughput("cb-text", "cb")
            throughput("cb-binary", "cb")
            rtt("cb-rtt", "cb")
            for (key in listOf("cb-json", "cb-json-deflate")) {
                add(Column(key, "msgsPerSec", "$key 300 B JSON", "msgs/s", true, 0, bestPeer = true))
                add(Column(key, "wireBytesUpPerMsg", "$key wire up", "B/msg", false, 1))
                add(Column(key, "wireBytesDownPerMsg", "$key wire down", "B/msg", false, 1))
            }
            for (spec in options.workloads.filter { it.tls != null }) {
                val label = "wss ${tlsName(spec.tls!!)}"
                if (spec.workload == "rtt") rtt(spec.key, label) else throughput(spec.key, label)
            }
        }.map { it.copy(label = it.label.trim()) }.filter { it.key in keys }

    private val stats: Map<Pair<String, String>, Stat> =
        buildMap {
            for (column in columns) {
                val base = rawStat(Clients.BASELINE, column)
                for (client in clients) {
                    val s = rawStat(client.id, column) ?: continue
                    val ratio =
                        if (column.ratio && base != null && base.median > 0) {
                            pairedRatio(client.id, column) ?: (s.median / base.median)
                        } else {
                            null
                        }
                    val advantage = ratio?.let {
                        if (column.higherIsBetter) {
                            it
                        } else if (it > 0) {
                            1 / it
                        } else {
                            null
                        }
                    }
                    val vsBest = if (column.bestPeer) vsBestPeer(client.id, column) else null
                    put(client.id to column.id, s.copy(ratio = ratio, advantage = advantage, vsBestPeer = vsBest))
                }
            }
        }

    fun stat(client: String, column: Column): Stat? = stats[client to column.id]

    /**
     * The median over rounds of client ÷ Ktor within the same round: on a shared machine whose load drifts over the
     * run, comparing neighbours is fairer than comparing medians taken at different times. `null` without pairs.
     */
    private fun pairedRatio(client: String, column: Column): Double? {
        fun byRound(id: String) = runs
            .filter { it.client == id && it.key == column.key }
            .mapNotNull { r -> (r.metrics[column.metric] as? Number)?.toDouble()?.let { r.round to it } }
            .toMap()
        val base = byRound(Clients.BASELINE)
        val ratios = byRound(client).mapNotNull { (round, v) ->
            base[round]?.takeIf { it > 0 }?.let { v / it }
        }.sorted()
        if (ratios.isEmpty()) return null
        val mid = ratios.size / 2
        return if (ratios.size % 2 == 1) ratios[mid] else (ratios[mid - 1] + ratios[mid]) / 2
    }

    private fun byRound(id: String, column: Column): Map<Int, Double> = runs
        .filter { it.client == id && it.key == column.key }
        .mapNotNull { r -> (r.metrics[column.metric] as? Number)?.toDouble()?.let { r.round to it } }
        .toMap()

    /**
     * The median over rounds of how many times better [client] was than the best peer in the same round (the peer
     * with the highest throughput or the lowest time in that round, Parley's faces excluded): the target is "at or
     * above 1". `null` if no peer ran that column.
     */
    private fun vsBestPeer(client: String, column: Column): Double? {
        val peers = clients.map { it.id }.filter { it !in Clients.PARLEY }.map { byRound(it, column) }
        val ratios =
            byRound(client, column).mapNotNull { (round, v) ->
                val values = peers.mapNotNull { it[round] }.filter { it > 0 }
                if (values.isEmpty() || v <= 0) return@mapNotNull null
                if (column.higherIsBetter) v / values.max() else values.min() / v
            }.sorted()
        if (ratios.isEmpty()) return null
        val mid = ratios.size / 2
        return if (ratios.size % 2 == 1) ratios[mid] else (ratios[mid - 1] + ratios[mid]) / 2
    }

    private fun rawStat(client: String, column: Column): Stat? {
        val mine = runs.filter { it.client == client && it.key == column.key }
        val values = mine.mapNotNull { (it.metrics[column.metric] as? Number)?.toDouble() }.sorted()
        if (values.isEmpty()) return null
        val median =
            if (values.size % 2 == 1) {
                values[values.size / 2]
            } else {
                (values[values.size / 2 - 1] + values[values.size / 2]) / 2
            }
        val partial = mine.any { !it.ok && it.metrics.containsKey(column.metric) }
        return Stat(median, values.first(), values.last(), values.size, partial, null, null)
    }

    fun write(out: File) {
        val pretty = ObjectMapper().writerWithDefaultPrettyPrinter()
        File(out, "results.json").writeText(pretty.writeValueAsString(toJson()))
        File(out, "results.md").writeText(markdown())
        Chart.write(this, File(out, "chart.png"))
    }

    private fun toJson(): Map<String, Any?> = linkedMapOf(
        "mode" to plan.mode,
        "rounds" to plan.rounds,
        "finishedAt" to finishedAt.toString(),
        "totalSeconds" to totalSeconds,
        "machine" to machine,
        "versions" to Clients.versions,
        "baseline" to Clients.BASELINE,
        "ratioDefinition" to RATIO_DEFINITION,
        "clients" to clients.map { mapOf("id" to it.id, "label" to it.label, "notes" to notesOf(it.id)) },
        "workloads" to
            options.workloads.map {
                mapOf("key" to it.key, "workload" to it.workload, "params" to it.params, "rounds" to it.rounds)
            },
        "columns" to
            columns.map {
                mapOf("id" to it.id, "label" to it.label, "unit" to it.unit, "higherIsBetter" to it.higherIsBetter)
            },
        "summary" to
            clients.associate { c ->
                c.id to
                    columns.mapNotNull { col -> stat(c.id, col)?.let { col.id to it } }.toMap()
            },
        "runs" to runs,
    )

    private fun notesOf(id: String): String? =
        runs.firstNotNullOfOrNull { if (it.client == id) it.metrics["notes"] as? String else null }

    private fun fmt(v: Double, decimals: Int) = String.format(Locale.ROOT, "%,.${decimals}f", v)

    private fun cell(client: String, column: Column, ratio: Boolean): String {
        if (column.key == "reconnect" && client !in Plan.RECONNECTING) return "n/a¹"
        val s = stat(client, column) ?: return missing(client, column.key)
        val value = fmt(s.median, column.decimals) + if (s.partial) "²" else ""
        if (!ratio) return value
        // Without Ktor's figure (a wss port Ktor cannot use) the best-peer ratio still stands on its own.
        val ratios = listOfNotNull(s.advantage?.let { times(it) }, s.vsBestPeer?.let { "best peer ${times(it)}" })
        return if (ratios.isEmpty()) value else "$value (${ratios.joinToString("; ")})"
    }

    /** No figure: never run ("—"), a wss connection the client could not open ("n/a (why)"), or a failure. */
    private fun missing(client: String, key: String): String {
        val mine = runs.filter { it.client == client && it.key == key }
        if (mine.isEmpty()) return "—"
        val unsupported = mine.firstOrNull { it.metrics["unsupported"] == true } ?: return "failed"
        return "n/a (${shortReason(unsupported.error)})"
    }

    /** The gist of a connect failure for a table cell; the whole message is under "Failed or incomplete runs". */
    private fun shortReason(error: String?): String =
        (error ?: "could not connect").replace("|", "/").let { if (it.length > 90) it.take(89) + "…" else it }

    private fun times(advantage: Double) = String.format(Locale.ROOT, "%.2f×", advantage)

    private fun col(key: String, metric: String) = columns.firstOrNull { it.key == key && it.metric == metric }

    /**
     * The headline table (medians, the first figure of each group with its ratio to raw Ktor CIO and, for throughput
     * and round trips, to the best peer), then a second one for the callback-driven and wss workloads if they ran.
     */
    fun summaryMarkdown(): String {
        val main = mainGroups().takeIf { it.isNotEmpty() }?.let { summaryTable(it) + "\n\n" } ?: ""
        val more = extraGroups()
        if (more.isEmpty()) return main.trimEnd()
        return main + "Callback-driven (`cb-*`: each send made inside the client's receive callback) and wss " +
            "(`wss-*`: TLS on the echo server, one protocol per port):\n\n" + summaryTable(more)
    }

    private fun summaryTable(groups: List<Pair<String, List<Column>>>): String {
        val rows =
            clients
                .filter { c -> groups.any { (_, cols) -> cols.any { column -> ran(c.id, column.key) } } }
                .map { c ->
                    listOf(c.label) +
                        groups.map { (_, cols) ->
                            val cells = cols.mapIndexed { i, column -> cell(c.id, column, ratio = i == 0) }
                            // One "n/a (why)" for the group, not one per percentile.
                            if (cells.first().startsWith("n/a (")) cells.first() else cells.joinToString(" / ")
                        }
                }
        return table(listOf("client") + groups.map { it.first }, rows, rightAlignFrom = 1)
    }

    private fun ran(client: String, key: String) = runs.any { it.client == client && it.key == key }

    private fun extraGroups(): List<Pair<String, List<Column>>> {
        fun rtt(key: String) = listOfNotNull(col(key, "p50Us"), col(key, "p99Us"), col(key, "p999Us"))
        val wss = options.workloads.filter { it.tls != null }
        return (
            listOf(
                "cb 64 B text msgs/s" to listOfNotNull(col("cb-text", "msgsPerSec")),
                "cb 64 B text client CPU µs/msg" to listOfNotNull(col("cb-text", "cpuUsPerMsg")),
                "cb 16 KiB binary MB/s" to listOfNotNull(col("cb-binary", "mbPerSec")),
                "cb RTT p50 / p99 / p99.9 µs" to rtt("cb-rtt"),
                "cb 300 B JSON msgs/s" to listOfNotNull(col("cb-json", "msgsPerSec")),
                "cb 300 B JSON, deflate offered: msgs/s" to listOfNotNull(col("cb-json-deflate", "msgsPerSec")),
                "deflate: wire B/msg up / down" to
                    listOfNotNull(
                        col("cb-json-deflate", "wireBytesUpPerMsg"),
                        col("cb-json-deflate", "wireBytesDownPerMsg"),
                    ),
            ) +
                wss.filter { it.workload == "rtt" }.map {
                    "wss ${tlsName(it.tls!!)} RTT p50 / p99 / p99.9 µs" to rtt(it.key)
                } +
                wss.filter { it.workload == "binary" }.map {
                    "wss ${tlsName(it.tls!!)} 16 KiB binary MB/s" to listOfNotNull(col(it.key, "mbPerSec"))
                }
            ).filter { it.second.isNotEmpty() }
    }

    private fun mainGroups(): List<Pair<String, List<Column>>> {
        val idles = columns.filter { it.metric == "threads" }.map { it.key }
        val across = idles.joinToString(" / ")
        // Groups of figures shown together; a group whose columns were not run is left out.
        return listOf(
            "64 B text msgs/s" to listOfNotNull(col("text", "msgsPerSec")),
            // CPU the client process spent per message: steadier than throughput on a shared machine.
            "64 B text client CPU µs/msg" to listOfNotNull(col("text", "cpuUsPerMsg")),
            "16 KiB binary MB/s" to listOfNotNull(col("binary", "mbPerSec")),
            "RTT p50 / p99 / p99.9 µs" to
                listOfNotNull(col("rtt", "p50Us"), col("rtt", "p99Us"), col("rtt", "p999Us")),
            "connect p50 / p99 ms" to listOfNotNull(col("connect", "p50Ms"), col("connect", "p99Ms")),
            "heap KiB / idle conn ($across)" to idles.mapNotNull { col(it, "heapKiBPerConn") },
            "RSS KiB / idle conn ($across)" to idles.mapNotNull { col(it, "rssKiBPerConn") },
            "threads added ($across)" to idles.mapNotNull { col(it, "threads") },
            "reconnect p50 ms" to listOfNotNull(col("reconnect", "p50Ms")),
        ).filter { it.second.isNotEmpty() }
    }

    private fun detailMarkdown(): String {
        val rows =
            columns.flatMap { column ->
                clients.mapNotNull { c ->
                    val s = stat(c.id, column) ?: return@mapNotNull null
                    listOf(
                        "${column.label} (${column.unit}, ${if (column.higherIsBetter) "higher" else "lower"} better)",
                        c.label,
                        fmt(s.median, column.decimals) + if (s.partial) "²" else "",
                        fmt(s.min, column.decimals),
                        fmt(s.max, column.decimals),
                        s.advantage?.let { times(it) } ?: "—",
                        s.vsBestPeer?.let { times(it) } ?: "—",
                        s.n.toString(),
                    )
                }
            }
        val header = listOf("figure", "client", "median", "min", "max", "× Ktor", "× best peer", "runs")
        return table(header, rows, rightAlignFrom = 2)
    }

    private fun markdown(): String = buildString {
        appendLine("# Parley benchmark results (${plan.mode} run)")
        appendLine()
        appendLine(
            "Finished $finishedAt after ${fmt(totalSeconds / 60, 1)} min; ${plan.rounds} round(s), clients " +
                "interleaved in each round; medians over rounds. $RATIO_DEFINITION",
        )
        appendLine()
        appendLine("Machine: " + machine.entries.joinToString("; ") { (k, v) -> "$k: $v" })
        appendLine()
        appendLine(summaryMarkdown())
        appendLine()
        appendLine("¹ No automatic reconnection in this client.  ")
        appendLine(
            "n/a (reason): the client could not open a wss connection on that port (for instance a TLS version " +
                "its TLS stack does not implement); the full error is under \"Failed or incomplete runs\".  ",
        )
        appendLine(
            "² Includes an incomplete run (see \"Failed or incomplete runs\"): short of the target count, or " +
                "some connections stopped answering; per-connection figures are over the connections it opened.",
        )
        appendLine()
        appendLine("![throughput and latency per client](chart.png)")
        appendLine()
        appendLine("## What each figure is")
        appendLine()
        for (spec in options.workloads) {
            val params = spec.params.mapValues { (_, v) -> if (v == Long.MAX_VALUE) "unbounded" else v }
            appendLine("- `${spec.key}`: ${explain(spec)} Parameters: $params.")
        }
        appendLine()
        appendLine("## Client configuration")
        appendLine()
        for (c in clients) appendLine("- ${c.label}: ${notesOf(c.id) ?: "—"}")
        val failures = runs.filter { !it.ok }
        if (failures.isNotEmpty()) {
            appendLine()
            appendLine("## Failed or incomplete runs")
            appendLine()
            for (f in failures) {
                val detail = f.metrics["detail"] as? String
                val what = if (detail != null) "n/a, could not connect: $detail" else f.error
                appendLine("- round ${f.round}, ${f.key}, ${f.client}: $what")
            }
        }
        appendLine()
        appendLine("## All figures: median, min, max over rounds")
        appendLine()
        appendLine(detailMarkdown())
    }

    private fun explain(spec: WorkloadSpec): String = if (spec.tls != null) {
        explain(spec.copy(tls = null)).removeSuffix(".") + ", over wss on a port restricted to " +
            "${tlsName(spec.tls)} and one cipher suite (AES-128-GCM), with the echo server's self-signed certificate " +
            "trusted through each client's own TLS settings."
    } else {
        explainPlain(spec)
    }

    private fun explainPlain(spec: WorkloadSpec): String = when (spec.workload) {
        "text" -> "one connection, 64-byte text frames pipelined with at most 512 awaiting their echo; messages/s."

        "binary" ->
            "one connection, 16 KiB binary frames pipelined with at most 32 awaiting their echo; MB/s of payload " +
                "echoed back (1 MB = 10^6 bytes)."

        "rtt" -> "one connection, one 64-byte text frame at a time; time from send to echo (HdrHistogram)."

        "connect" -> "sequential connects (TCP + HTTP upgrade) timed until the library reports the socket open."

        "idle" ->
            "${spec.params["connections"]} connections opened from one process (64 opening at once) and left " +
                "idle; heap after System.gc(), process RSS (VmRSS) and live threads, minus a baseline taken " +
                "before opening (after one throwaway connection); an echo on a sample checks they are still alive."

        "cb-text", "cb-binary", "cb-rtt" -> {
            val what =
                if (spec.workload == "cb-rtt") {
                    "the next one is sent from the callback that received the previous echo; time from that send " +
                        "to the callback for its echo."
                } else {
                    "one per echo, plus one more while fewer than the window are in flight."
                }
            explain(spec.copy(workload = spec.workload.removePrefix("cb-"))).removeSuffix(".") +
                ", but callback-driven: the driver sends one message, then every send is made inside the client's " +
                "receive callback in the client's own idiom (see Client configuration): " + what
        }

        "cb-json" ->
            "one connection, 300-char market-data JSON text messages (64 that differ in their numbers, in turn), " +
                "callback-driven with at most 64 awaiting their echo; messages/s. First 5,000 go through a " +
                "byte-counting relay (untimed) for the bytes per message on the wire each way, frame headers " +
                "included. On `${spec.params["path"]}`" +
                if (spec.params["path"] == "/echo-deflate") {
                    ", where the server agrees permessage-deflate (Netty, level 6, context kept) with a client that " +
                        "offers it: each client with its own defaults (Parley, OkHttp and Java-WebSocket compress " +
                        "messages from 1,024 bytes, so they send these uncompressed; Jetty offers it when asked, " +
                        "which this run does; Ktor's raw client and the JDK's offer nothing)."
                } else {
                    ", no compression."
                }

        "reconnect" ->
            "the server process is killed (SIGKILL) and restarted on the same port " +
                "${plan.reconnectCycles} time(s) per run; time from the new server listening to the client's " +
                "onConnect, with a fixed 100 ms backoff (Parley's equal jitter makes each delay 50-100 ms)."

        else -> ""
    }

    private fun table(header: List<String>, rows: List<List<String>>, rightAlignFrom: Int): String = buildString {
        appendLine(header.joinToString(" | ", "| ", " |"))
        appendLine(header.indices.joinToString("|", "|", "|") { if (it >= rightAlignFrom) "---:" else "---" })
        for (row in rows) appendLine(row.joinToString(" | ", "| ", " |"))
    }.trimEnd()

    companion object {
        const val RATIO_DEFINITION =
            "× is how many times better than raw Ktor CIO, so above 1 is better in every column: the median over " +
                "rounds of client / Ktor in the same round for throughput, Ktor / client for times and memory. " +
                "\"best peer\" (throughput and round trips) is the same against the best of the other libraries " +
                "(not Parley) in each round: at or above 1 is at or better than the best peer."

        fun tlsName(protocol: String) = protocol.replace("TLSv", "TLS ")
    }
}
