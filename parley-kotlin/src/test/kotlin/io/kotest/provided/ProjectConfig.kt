package io.kotest.provided

import dev.parley.internal.Liveness
import io.kotest.core.config.AbstractProjectConfig
import io.kotest.core.listeners.AfterSpecListener
import io.kotest.core.spec.Spec
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Every spec must leave no client running and no connection open behind it: a client a spec forgot to stop, or one
 * that leaks a socket or helper coroutine on some path, fails the spec that did it. (Connections close in the
 * background for up to a second after stop(), so this waits for them, bounded.)
 */
class ProjectConfig : AbstractProjectConfig() {
    override val extensions = listOf(NothingLeftRunning)
}

object NothingLeftRunning : AfterSpecListener {
    override suspend fun afterSpec(spec: Spec) {
        val settled =
            withTimeoutOrNull(10.seconds) {
                while (Liveness.loops.get() != 0 || Liveness.sessions.get() != 0) delay(20.milliseconds)
            }
        if (settled == null) {
            val left = "${Liveness.loops.get()} client loop(s) and ${Liveness.sessions.get()} connection(s)"
            // Reset, so one leak is blamed on one spec only.
            Liveness.loops.set(0)
            Liveness.sessions.set(0)
            throw AssertionError("${spec::class.simpleName} left $left running")
        }
    }
}
