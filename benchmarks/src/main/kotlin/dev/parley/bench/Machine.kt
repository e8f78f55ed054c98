package dev.parley.bench

import java.io.File
import java.lang.management.ManagementFactory
import java.util.concurrent.TimeUnit

/** The machine a run happened on, recorded with its results. */
object Machine {
    fun describe(): Map<String, Any?> {
        val os = ManagementFactory.getOperatingSystemMXBean()
        val memory = (os as? com.sun.management.OperatingSystemMXBean)?.totalMemorySize
        return linkedMapOf(
            "cpu" to
                read("/proc/cpuinfo")
                    ?.lineSequence()
                    ?.firstOrNull { it.startsWith("model name") }
                    ?.substringAfter(':')
                    ?.trim(),
            "cores" to Runtime.getRuntime().availableProcessors(),
            "memoryGiB" to memory?.let { "%.1f".format(it / (1L shl 30).toDouble()).toDouble() },
            "jdk" to "${System.getProperty("java.vm.name")} ${System.getProperty("java.runtime.version")}",
            "jdkVendor" to System.getProperty("java.vm.vendor"),
            "os" to
                "${System.getProperty("os.name")} ${System.getProperty("os.version")} ${System.getProperty("os.arch")}",
            "openFilesLimit" to Footprint.openFilesLimit(),
            "pidMax" to read("/proc/sys/kernel/pid_max")?.trim()?.toLongOrNull(),
            "loadAverageAtStart" to os.systemLoadAverage,
            "gitCommit" to git("rev-parse", "--short", "HEAD"),
            "gitDirty" to git("status", "--porcelain", "--untracked-files=no")?.isNotEmpty(),
        )
    }

    private fun read(path: String): String? = runCatching { File(path).readText() }.getOrNull()

    private fun git(vararg args: String): String? = runCatching {
        val p = ProcessBuilder(listOf("git") + args).redirectErrorStream(true).start()
        val out = p.inputStream.bufferedReader().readText().trim()
        if (p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0) out else null
    }.getOrNull()
}
