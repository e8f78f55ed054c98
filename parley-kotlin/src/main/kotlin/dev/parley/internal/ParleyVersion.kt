package dev.parley.internal

import java.util.Properties

/** The version this build of Parley carries, read from the properties file the build fills in. */
internal object ParleyVersion {
    val value: String =
        runCatching {
            ParleyVersion::class.java.getResourceAsStream("/dev/parley/parley.properties")?.use { stream ->
                Properties().apply { load(stream) }.getProperty("version")
            }
        }.getOrNull()?.takeIf { it.isNotBlank() && !it.startsWith("\${") } ?: "unknown"

    /** `User-Agent` sent with the upgrade request unless the caller sets one. */
    val userAgent: String = "parley/$value"
}
