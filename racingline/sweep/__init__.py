"""Sweeps and many-track work beyond one machine, on Ray: Ray Tune with Optuna's TPE sampler and ASHA for
hyperparameter and reward sweeps (:mod:`racingline.sweep.tune`), and evaluation spread over Ray workers
(:mod:`racingline.sweep.distributed`). Ray and Optuna are the optional ``sweep`` extra
(``pip install 'racingline[sweep]'``); nothing here imports them until a sweep or a distributed evaluation starts.
"""
