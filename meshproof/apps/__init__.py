"""Apps of the seeds that every backend runs: the reference mesh as a process, a cluster from a bundle."""
