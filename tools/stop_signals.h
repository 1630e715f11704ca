#pragma once

// How the programs that serve until told to stop (crm-devbroker,
// crm-bench-empty) wait for it.

#include <signal.h>

namespace crm {

// Blocks SIGTERM and SIGINT in this thread and in every thread it starts
// afterwards, to be taken by WaitForStopSignal: call it before any thread.
inline sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Waits for one of `signals`; returns its number.
inline int WaitForStopSignal(const sigset_t& signals) {
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  return signal_number;
}

}  // namespace crm
