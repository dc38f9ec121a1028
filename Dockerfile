# One image for every service; compose picks the service by its command.
FROM python:3.11.7-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PYTHONWARNINGS=ignore::DeprecationWarning RUN_DIR=/data
WORKDIR /app
# Run-time dependencies only (psycopg2-binary brings its own libpq): no compiler needed.
COPY requirements.lock .
RUN pip install --no-compile -r requirements.lock \
 && useradd --create-home --uid 10001 shop \
 && mkdir /data && chown shop /data
COPY config.yml .
COPY shop shop
COPY contracts contracts
COPY gateway gateway
COPY users users
COPY posts posts
COPY products products
COPY orders orders
COPY notifications notifications
USER shop
EXPOSE 8000
