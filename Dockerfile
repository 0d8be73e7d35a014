# One image for every DIEP service (web, worker, beat, consumer, migrate).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DIEP_DATA_DIR=/var/lib/diep

# Dependencies in their own layer: a code change does not reinstall them.
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time; whitenoise serves them from the image.
RUN DJANGO_SECRET_KEY=collectstatic-only DIEP_DATA_DIR=/tmp/build \
        python manage.py collectstatic --noinput \
    && rm -rf /tmp/build \
    && useradd --system --uid 10001 --home-dir /var/lib/diep --create-home diep

USER diep
EXPOSE 8000
CMD ["gunicorn", "diep_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
