package dev.parley.internal

import org.slf4j.Logger
import org.slf4j.LoggerFactory

/**
 * Log lines of one client, prefixed with its name and connection number (`[feed#3]`). Every client shares one
 * SLF4J logger, `dev.parley.Parley`: a logger per client would be kept by the logging backend forever, so a process
 * that creates clients without end would grow without bound. Formatting happens only for enabled levels.
 */
internal class ClientLog(
    private val name: String,
) {
    /** The number of the current or last connection, 0 before the first; written by the loop only. */
    @Volatile
    var connection: Long = 0

    val isDebugEnabled: Boolean get() = logger.isDebugEnabled
    val isTraceEnabled: Boolean get() = logger.isTraceEnabled

    private fun prefixed(format: String) = if (connection == 0L) "[$name] $format" else "[$name#$connection] $format"

    fun trace(format: String, vararg args: Any?) {
        if (logger.isTraceEnabled) logger.trace(prefixed(format), *args)
    }

    fun debug(format: String, vararg args: Any?) {
        if (logger.isDebugEnabled) logger.debug(prefixed(format), *args)
    }

    fun info(format: String, vararg args: Any?) {
        if (logger.isInfoEnabled) logger.info(prefixed(format), *args)
    }

    fun warn(format: String, vararg args: Any?) {
        if (logger.isWarnEnabled) logger.warn(prefixed(format), *args)
    }

    fun error(message: String, cause: Throwable) {
        logger.error(prefixed(message), cause)
    }

    private companion object {
        val logger: Logger = LoggerFactory.getLogger("dev.parley.Parley")
    }
}
