package dev.parley.bench

import java.lang.management.ManagementFactory

/** What a process holds: heap after GC, live threads, resident set size. */
data class Footprint(
    val heapBytes: Long,
    val threads: Int,
    val rssKiB: Long,
) {
    companion object {
        fun take(): Footprint {
            // Several collections: one can leave garbage that only becomes unreachable after finalization/cleaners.
            repeat(3) {
                System.gc()
                Thread.sleep(100)
            }
            return Footprint(
                ManagementFactory.getMemoryMXBean().heapMemoryUsage.used,
                ManagementFactory.getThreadMXBean().threadCount,
                procStatus("VmRSS"),
            )
        }

        /** A `kB` field of /proc/self/status (Linux), or -1 elsewhere. */
        private fun procStatus(field: String): Long = runCatching {
            java.io
                .File("/proc/self/status")
                .readLines()
                .first { it.startsWith("$field:") }
                .split(Regex("\\s+"))[1]
                .toLong()
        }.getOrDefault(-1)

        /** The soft limit on open files (/proc/self/limits; the JVM raises it to the hard limit at start), or -1. */
        fun openFilesLimit(): Long = runCatching {
            java.io
                .File("/proc/self/limits")
                .readLines()
                .first { it.startsWith("Max open files") }
                .split(Regex("\\s{2,}"))[1]
                .toLong()
        }.getOrDefault(-1)
    }
}

/** Key=value workload parameters from the command line. */
class Params(
    private val values: Map<String, String>,
) {
    fun string(key: String): String = values[key] ?: error("missing parameter '$key'")

    fun stringOrNull(key: String): String? = values[key]

    fun long(key: String): Long = values[key]?.toLong() ?: error("missing parameter '$key'")

    fun int(key: String): Int = long(key).toInt()

    companion object {
        fun parse(args: Array<String>): Params =
            Params(args.associate { it.substringBefore('=') to it.substringAfter('=', "") })
    }
}

/** A protocol line for the harness (stdout, flushed at once). */
fun say(line: String) {
    synchronized(System.out) {
        println(line)
        System.out.flush()
    }
}
