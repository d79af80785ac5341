-- What PostGraphile needs on top of mlgraph's tables (applied by bench/compare.py, idempotent).
-- ModelVersion.deployments goes through deployment_target, newest first (storage/graph.py);
-- PostGraphile has no many-to-many relations in core, so a computed column gives the same rows.
CREATE OR REPLACE FUNCTION public.model_version_deployments(mv public.model_version)
RETURNS SETOF public.deployment
LANGUAGE sql STABLE AS $$
  SELECT d.*
  FROM public.deployment d
  JOIN public.deployment_target t ON t.deployment_id = d.id
  WHERE t.version_id = mv.id
  ORDER BY d.created_at DESC, d.id DESC
$$;

-- A drift metric's foreign key is (deployment_id, project_id) to deployment's unique pair
-- (migration 0017: one key instead of two), which PostGraphile gives no relation for; this
-- smart tag gives back Deployment.driftMetricsByDeploymentId, the field the query reads.
COMMENT ON TABLE public.drift_metric IS
  E'@foreignKey (deployment_id) references public.deployment (id)';
