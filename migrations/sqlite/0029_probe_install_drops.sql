-- 0029_probe_install_drops.sql - what an agent instance lost of a probe's
-- events before posting them (docs/agents.md, "Probe status"): dropped is
-- the count the instance last reported for a probe it has installed (the
-- reference agent's full buffer, jitgate-probe's ring buffer or return map
-- full in the kernel), since it installed the probe.  0 for failed rows and
-- for instances that report none.  probe_status.c owns the table.
ALTER TABLE probe_installs ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0 CHECK (dropped >= 0);
